import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";
import { ipForward, nsTcpRecorder, recordedHostPieces, sh, tableFamilies, tcpRecorder, TestNamespace, umldTables, umlLinks, until } from "../harness/host-net.js";

/**
 * host and user networks with real guests. All traffic stays on this machine:
 * guest to the bridge's own address, to servers in network namespaces the
 * test creates, and (user) to the host's loopback through slirp.
 */

/** From inside a namespace: "connected", "error <code>" or "timeout" for a TCP connection to host:port. */
function nsConnect(ns: TestNamespace, host: string, port: number): string {
  const code = `const s = require("net").connect(${port}, ${JSON.stringify(host)}, () => { console.log("connected"); s.end(); process.exit(); }); s.on("error", (e) => { console.log("error " + e.code); process.exit(); }); setTimeout(() => { console.log("timeout"); process.exit(); }, 3000);`;
  return ns.exec(process.execPath, ["-e", code]).trim();
}

describe("host and user networks with real guests", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  const con: Record<string, ConsoleClient> = {};
  const namespaces: TestNamespace[] = [];
  const servers: ChildProcess[] = [];
  let uplink: ReturnType<typeof nsTcpRecorder>;
  const forwardBefore = ipForward();
  /** a routing table and rule of this run's own (metadata test) */
  const rt = { table: String(70_000 + Math.floor(Math.random() * 10_000)), priority: String(20_000 + Math.floor(Math.random() * 5_000)) };
  let natBridge = "";
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    for (const c of Object.values(con)) c.close();
    for (const p of servers) p.kill();
    for (const ns of namespaces) ns.destroy();
    try {
      sh("ip", ["rule", "del", "priority", rt.priority]);
    } catch {
      // not made
    }
    sh("ip", ["route", "flush", "table", rt.table]);
    await d?.stop();
  });

  it("a host network guest reaches the bridge's address and a server in a namespace on the bridge", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "hnet", kind: "host", subnet: "10.231.0.0/24" });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    assert.equal(net.body.gateway, "10.231.0.1");
    assert.match(sh("ip", ["-o", "-4", "addr", "show", "dev", net.body.bridge]), /inet 10\.231\.0\.1\/24/, "the host side is addressed");
    await d.create("h1");
    const nic = await d.api("POST", "/v1/instances/h1/nics", { network: "hnet" });
    assert.equal(nic.status, 201, JSON.stringify(nic.body));
    assert.equal(nic.body.ip, "10.231.0.2", "the first address is the host's");
    assert.match(sh("ip", ["-o", "link", "show", "dev", nic.body.hostInterface]), new RegExp(`master ${net.body.bridge}`), "the TAP is in the bridge");
    await d.mustAct("h1", "start");
    con.h1 = await d.shell("h1");
    assert.match(await con.h1.run("ping -c 2 -W 3 10.231.0.1"), / 0% packet loss/, "guest to host over the bridge");
    await con.h1.run("ip addr add 10.231.0.77/24 dev eth0");
    assert.match(await con.h1.run("ping -I 10.231.0.77 -c 2 -W 1 10.231.0.1"), /100% packet loss/, "from an address not its NIC's: dropped at its port");
    await con.h1.run("ip addr del 10.231.0.77/24 dev eth0");

    const ns = TestNamespace.create("umldtest-lan", { hostEnd: "umldtest-v0", nsAddr: "10.231.0.200/24", bridge: net.body.bridge });
    namespaces.push(ns);
    const srv = nsTcpRecorder(ns, 7000);
    servers.push(srv.proc);
    await new Promise((r) => setTimeout(r, 700));
    await con.h1.run("echo hello-bridge | nc -w 3 10.231.0.200 7000");
    const line = await until("the namespace server to get a connection", () => srv.lines()[0]);
    assert.equal(line, "10.231.0.2 hello-bridge", "the server saw the guest's own address");
  });

  it("a NATed host network takes the guest to a namespace that has no route back, masqueraded as the host", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "nnet", kind: "host", subnet: "10.232.0.0/24", nat: true });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    natBridge = net.body.bridge;
    assert.equal(ipForward(), "1", "NAT needs forwarding");
    // an "uplink" the test owns: 198.18.77.0/30 between the host and a namespace, nothing else
    const up = TestNamespace.create("umldtest-up", { hostEnd: "umldtest-u0", hostAddr: "198.18.77.1/30", nsAddr: "198.18.77.2/30" });
    namespaces.push(up);
    const srv = nsTcpRecorder(up, 7001);
    uplink = srv;
    servers.push(srv.proc);
    await d.create("n1");
    const nic = await d.api("POST", "/v1/instances/n1/nics", { network: "nnet" });
    assert.match(nic.body.mac, /^fa:/, "the MAC tells the guest to route through the host");
    await d.mustAct("n1", "start");
    con.n1 = await d.shell("n1");
    assert.match(await con.n1.run("ip route"), /default via 10\.232\.0\.1/);
    await con.n1.run("echo hello-nat | nc -w 3 198.18.77.2 7001");
    const line = await until("the uplink server to get a connection", () => srv.lines()[0]);
    assert.equal(line, "198.18.77.1 hello-nat", "masqueraded to the host's uplink address");
    // the non-NATed network does not forward: h1 has no way out, even with routes both ways
    up.exec("ip", ["route", "add", "10.231.0.0/24", "via", "198.18.77.1"]);
    await con.h1!.run("ip route add 198.18.77.0/30 via 10.231.0.1");
    await con.h1!.run("echo not-routed | nc -w 2 198.18.77.2 7001");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(srv.lines().length, 1, "a host network without NAT does not reach beyond the host");
  });

  it("the host answers its guests' ping and nothing else: listeners on the gateways and on the host's other addresses get no connection", async () => {
    const listeners = ["10.231.0.1", "10.232.0.1", "198.18.77.1"].map((a) => ({ addr: a, rec: tcpRecorder(a) }));
    try {
      const ports = await Promise.all(listeners.map((l) => l.rec.ready));
      for (const [guest, addrs] of [
        ["h1", ["10.231.0.1"]],
        ["n1", ["10.232.0.1", "198.18.77.1"]],
      ] as const) {
        for (const a of addrs) {
          const port = ports[listeners.findIndex((l) => l.addr === a)]!;
          assert.match(await con[guest]!.run(`echo to-host | nc -w 2 ${a} ${port}; echo nc-exit=$?`, 30_000), /nc-exit=1/, `${guest} to ${a}`);
        }
      }
      assert.match(await con.h1!.run("ping -c 1 -W 3 10.231.0.1"), / 0% packet loss/, "ping still answers");
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(
        listeners.map((l) => l.rec.got),
        [[], [], []],
        "no host listener saw a guest",
      );
    } finally {
      for (const l of listeners) l.rec.server.close();
    }
  });

  it("a NATed guest is never forwarded to 169.254.169.254 (metadata)", async () => {
    // "metadata" is the uplink namespace, and only traffic from this network's bridge is routed there
    namespaces.find((n) => n.name === "umldtest-up")!.exec("ip", ["addr", "add", "169.254.169.254/32", "dev", "vns0"]);
    sh("ip", ["route", "add", "169.254.169.254/32", "via", "198.18.77.2", "dev", "umldtest-u0", "table", rt.table]);
    sh("ip", ["rule", "add", "iif", natBridge, "lookup", rt.table, "priority", rt.priority]);
    const before = uplink.lines().length;
    assert.match(await con.n1!.run("echo to-metadata | nc -w 2 169.254.169.254 7001; echo nc-exit=$?", 30_000), /nc-exit=1/);
    await con.n1!.run("echo still-out | nc -w 3 198.18.77.2 7001");
    assert.equal(await until("NAT to the uplink", () => uplink.lines()[before]), "198.18.77.1 still-out", "the same guest still gets out, and metadata never came first");
    sh("ip", ["rule", "del", "priority", rt.priority]);
  });

  it("IPv6 is neither forwarded from a host network nor accepted by the host; neighbour discovery still answers", async (t) => {
    // the guests' kernel has no IPv6: a namespace on the bridge stands in for a guest that sends it (any guest can write raw frames to its TAP)
    sh("ip", ["addr", "add", "fd78:1::1/64", "dev", natBridge, "nodad"]);
    const v6 = TestNamespace.create("umldtest-v6", { hostEnd: "umldtest-w0", nsAddr: "10.232.0.250/24", bridge: natBridge });
    namespaces.push(v6);
    v6.exec("ip", ["addr", "add", "fd78:1::2/64", "dev", "vns0", "nodad"]);
    v6.exec("ip", ["-6", "route", "add", "default", "via", "fd78:1::1"]);
    const up = namespaces.find((n) => n.name === "umldtest-up")!;
    sh("ip", ["addr", "add", "fd77:1::1/64", "dev", "umldtest-u0", "nodad"]);
    up.exec("ip", ["addr", "add", "fd77:1::2/64", "dev", "vns0", "nodad"]);
    up.exec("ip", ["-6", "route", "add", "fd78:1::/64", "via", "fd77:1::1"]);
    // forwarding on for these two interfaces only (the host's own setting stays): without umld's rule this would route
    const canForward = existsSync(`/proc/sys/net/ipv6/conf/${natBridge}/force_forwarding`); // Linux 6.17+
    if (canForward) for (const i of [natBridge, "umldtest-u0"]) sh("sysctl", ["-q", "-w", `net.ipv6.conf.${i}.force_forwarding=1`]);
    else t.diagnostic("no per-interface IPv6 force_forwarding on this kernel: the forwarding check proves little here");
    const srv6 = nsTcpRecorder(up, 7003, "::");
    servers.push(srv6.proc);
    await srv6.ready;
    const host6 = tcpRecorder("fd78:1::1");
    try {
      const port = await host6.ready;
      assert.match(nsConnect(v6, "fd77:1::2", 7003), /^(timeout|error)/, "not forwarded");
      assert.match(nsConnect(v6, "fd78:1::1", port), /^(timeout|error)/, "not accepted by the host");
      assert.match(v6.exec("ip", ["-6", "neigh", "show", "fd78:1::1"]), /lladdr/, "the host answered neighbour discovery");
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual([srv6.lines(), host6.got], [[], []]);
    } finally {
      host6.server.close();
      v6.destroy();
    }
  });

  it("a user network (slirp) an admin opened reaches the host's loopback at 10.0.2.2 with no privileges on the host side", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "unet", kind: "user", hostAccess: true });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    assert.deepEqual([net.body.subnet, net.body.gateway, net.body.nat, net.body.hostAccess], ["10.0.2.0/24", "10.0.2.2", true, true]);
    const rec = tcpRecorder("127.0.0.1");
    const port = await rec.ready;
    try {
      const nic = await d.api("POST", "/v1/instances/h1/nics", { network: "unet" });
      assert.equal(nic.status, 201, JSON.stringify(nic.body));
      assert.deepEqual([nic.body.slot, nic.body.ip, nic.body.live], ["eth1", "10.0.2.15", true]);
      await con.h1!.runUntil("ip -4 addr show eth1", /inet 10\.0\.2\.15\/24/); // configured by the guest itself (mdev)
      await con.h1!.run(`echo hello-slirp | nc -w 3 10.0.2.2 ${port}`);
      const line = await until("the host server to get a connection", () => rec.got[0]);
      assert.equal(line, "127.0.0.1 hello-slirp");
      await con.h1!.run("ip link set eth1 down");
      assert.equal((await d.api("DELETE", "/v1/instances/h1/nics/eth1")).status, 200);
    } finally {
      rec.server.close();
    }
  });

  it("a host NIC hot-added to a running guest works; hot-removed, its TAP is gone", async () => {
    const add = await d.api("POST", "/v1/instances/n1/nics", { network: "hnet" });
    assert.equal(add.status, 201, JSON.stringify(add.body));
    assert.deepEqual([add.body.slot, add.body.live, add.body.ip], ["eth1", true, "10.231.0.3"]);
    await con.n1!.runUntil("ip -4 addr show eth1", /inet 10\.231\.0\.3\/24/); // configured by the guest itself (mdev)
    assert.match(await con.n1!.run("ping -c 2 -W 3 10.231.0.2"), / 0% packet loss/, "n1 reaches h1 over the hot-added NIC");
    await con.n1!.run("ip link set eth1 down");
    assert.equal((await d.api("DELETE", "/v1/instances/n1/nics/eth1")).status, 200);
    assert.ok(!umlLinks().includes(add.body.hostInterface), "TAP removed");
  });

  it("bad requests change nothing", async () => {
    const overlap = await d.api("POST", "/v1/networks", { name: "clash", kind: "host", subnet: "10.231.0.0/16" });
    assert.equal(overlap.status, 409);
    assert.equal(overlap.body.error.code, "subnet_conflict");
    const natSwitch = await d.api("POST", "/v1/networks", { name: "x", kind: "switch", subnet: "10.9.0.0/24", nat: true });
    assert.equal(natSwitch.body.error.code, "invalid_request");
    const userSubnet = await d.api("POST", "/v1/networks", { name: "x", kind: "user", subnet: "10.9.0.0/24" });
    assert.equal(userSubnet.body.error.code, "invalid_request");
    const noSubnet = await d.api("POST", "/v1/networks", { name: "x", kind: "host" });
    assert.equal(noSubnet.body.error.code, "invalid_request");
    assert.deepEqual(
      (await d.api("GET", "/v1/networks")).body.networks.map((n: { name: string }) => n.name),
      ["hnet", "nnet", "unet"],
    );
  });

  it("after a daemon restart the networks still work and nothing is duplicated; after deleting everything nothing is left", async () => {
    const mine = recordedHostPieces(d.stateDir);
    // this state dir's only: other daemons on the host (concurrent test runs) come and go meanwhile
    const myLinks = () =>
      umlLinks()
        .filter((l) => mine.links.includes(l))
        .sort();
    const myTables = () =>
      umldTables()
        .filter((t) => mine.tables.includes(t))
        .sort();
    const links = myLinks();
    const tables = myTables();
    assert.deepEqual(mine.tables.sort(), [...new Set(tables)], "one table name per host network");
    for (const c of Object.values(con)) c.close();
    await d.kill("SIGKILL");
    // as an older umld left them: one `ip` table per network, no inet one
    for (const t of mine.tables) sh("nft", ["-f", "-"], `delete table inet ${t}\ntable ip ${t} {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n  }\n}\n`);
    const l3 = (t: string) => tableFamilies(t).filter((f) => f === "ip" || f === "inet"); // its bridge-family guard is another matter
    assert.deepEqual(
      mine.tables.map(l3),
      mine.tables.map(() => ["ip"]),
    );
    d = await TestDaemon.start({ stateDir: d.stateDir, logLevel: "info" });
    assert.deepEqual(
      mine.tables.map(l3),
      mine.tables.map(() => ["inet"]),
      "each replaced by the inet table at start",
    );
    assert.deepEqual(myLinks(), links, "the same bridges and TAPs, none added");
    assert.deepEqual(myTables(), tables, "the same tables, none added");
    con.n1 = await d.console("n1", false);
    const seen = uplink.lines().length;
    await con.n1.run("echo after-restart | nc -w 3 198.18.77.2 7001");
    assert.equal(await until("NAT after the restart", () => uplink.lines()[seen]), "198.18.77.1 after-restart");
    con.h1 = await d.console("h1", false);
    assert.match(await con.h1.run("ping -c 2 -W 3 10.231.0.1"), / 0% packet loss/);
    for (const c of Object.values(con)) c.close();

    const inUse = await d.api("DELETE", "/v1/networks/hnet");
    assert.equal(inUse.body.error.code, "network_in_use");
    for (const n of ["h1", "n1"]) assert.equal((await d.api("DELETE", `/v1/instances/${n}?force=true`)).status, 200);
    for (const n of ["hnet", "nnet", "unet"]) assert.equal((await d.api("DELETE", `/v1/networks/${n}`)).status, 200);
    for (const ns of namespaces) ns.destroy();
    const left = umlLinks().filter((l) => mine.links.includes(l));
    assert.deepEqual(left, [], "no bridge or TAP left");
    assert.deepEqual(
      umldTables().filter((t) => mine.tables.includes(t)),
      [],
      "no nftables table left",
    );
    assert.equal(ipForward(), forwardBefore, "forwarding as it was before umld turned it on");
  });
});
