import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { after, before, describe, it } from "node:test";
import { REPO, TestDaemon, type ConsoleClient } from "../harness/daemon.js";
import { recordedHostPieces, sh, umldTables, umlLinks, until } from "../harness/host-net.js";

/** The network id a bridge name was made from is its table's name; tests get it from the database. */
let recordedId: (bridge: string) => string = () => "";

describe("switch networks between real guests", { timeout: 240_000 }, () => {
  let d: TestDaemon;
  const con: Record<string, ConsoleClient> = {};
  const taps: Record<string, string> = {};
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    recordedId = (bridge) =>
      recordedHostPieces(d.stateDir)
        .tables.map((t) => t.slice(5))
        .find((id) => bridge === `umlbr-${id.slice(0, 8)}`)!;
  });
  after(async () => {
    for (const c of Object.values(con)) c.close();
    await d?.stop();
  });

  it("two guests on one network ping each other and exchange a file over TCP; a guest on another network cannot reach them", async () => {
    assert.equal((await d.api("POST", "/v1/networks", { name: "lan", subnet: "10.77.0.0/24" })).status, 201);
    assert.equal((await d.api("POST", "/v1/networks", { name: "other", subnet: "10.77.0.0/24" })).status, 201, "same subnet: only L2 isolation keeps them apart");
    const nics: Record<string, string> = {};
    for (const [n, net] of [
      ["g1", "lan"],
      ["g2", "lan"],
      ["g3", "other"],
    ] as const) {
      await d.create(n);
      const nic = await d.api("POST", `/v1/instances/${n}/nics`, { network: net });
      assert.equal(nic.status, 201, JSON.stringify(nic.body));
      nics[n] = nic.body.ip;
      taps[n] = nic.body.hostInterface;
      await d.mustAct(n, "start");
      con[n] = await d.shell(n);
    }
    assert.equal(nics.g1, "10.77.0.1");
    assert.equal(nics.g2, "10.77.0.2");
    assert.match(await con.g1!.run(`ip -4 addr show eth0`), /inet 10\.77\.0\.1\/24/, "addressed from its MAC, no agent");
    assert.match(await con.g1!.run(`ping -c 2 -W 3 ${nics.g2}`), / 0% packet loss/);
    assert.match(await con.g2!.run(`ping -c 2 -W 3 ${nics.g1}`), / 0% packet loss/);
    con.g2!.type("nc -l -p 5000 > /tmp/got &\n");
    await new Promise((r) => setTimeout(r, 500));
    await con.g1!.run(`echo payload-$((6*7)) | nc -w 3 ${nics.g2} 5000`);
    await new Promise((r) => setTimeout(r, 500));
    assert.match(await con.g2!.run("cat /tmp/got"), /payload-42/);
    assert.match(await con.g3!.run(`ping -c 2 -W 1 ${nics.g2}`), /100% packet loss/, "isolated");
    // UML's vector driver does not close its TAP for an in-place reboot (the old descriptor kept it busy): a reboot is a new process
    await d.mustAct("g2", "reboot");
    con.g2!.close();
    con.g2 = await d.shell("g2");
    assert.match(await con.g1!.run(`ping -c 2 -W 3 ${nics.g2}`), / 0% packet loss/, "the NIC works after a reboot");
  });

  it("a NIC hot-added to a running guest comes up by itself (addressed from its MAC) and works; hot-removed (once down) it disappears", async () => {
    const add = await d.api("POST", "/v1/instances/g3/nics", { network: "lan" });
    assert.equal(add.status, 201, JSON.stringify(add.body));
    assert.deepEqual({ slot: add.body.slot, live: add.body.live, ip: add.body.ip }, { slot: "eth1", live: true, ip: "10.77.0.3" });
    await con.g3!.runUntil("ls /sys/class/net", /eth1/); // the kernel's vec1, named after its slot by the guest (/etc/umld-net)
    await con.g3!.runUntil("ip -4 addr show eth1", /inet 10\.77\.0\.3\/24/); // the guest configures it by itself (mdev runs /etc/umld-net)
    // g3 has the same subnet on eth0 (the other network): ping out of the new interface
    assert.match(await con.g3!.run("ping -I eth1 -c 2 -W 3 10.77.0.2"), / 0% packet loss/);
    const mine = await d.api("POST", "/v1/instances/g1/nics", { network: "other", mac: "02:00:00:00:00:2a" });
    assert.equal(mine.status, 201, JSON.stringify(mine.body));
    assert.equal(mine.body.mac, "02:00:00:00:00:2a", "a MAC of the admin's choosing");
    await con.g1!.runUntil("cat /sys/class/net/eth1/address", /02:00:00:00:00:2a/);
    const again = await d.api("POST", "/v1/instances/g2/nics", { network: "other", mac: "02:00:00:00:00:2a" });
    assert.equal(again.body.error.code, "mac_in_use");
    const multicast = await d.api("POST", "/v1/instances/g2/nics", { network: "other", mac: "03:00:00:00:00:01" });
    assert.equal(multicast.body.error.code, "invalid_request");
    assert.equal((await d.api("DELETE", "/v1/instances/g1/nics/eth1")).status, 200);
    const busy = await d.api("DELETE", "/v1/instances/g3/nics/eth1");
    assert.equal(busy.status, 409);
    assert.equal(busy.body.error.code, "nic_busy");
    await con.g3!.run("ip link set eth1 down");
    assert.equal((await d.api("DELETE", "/v1/instances/g3/nics/eth1")).status, 200);
    assert.doesNotMatch(await con.g3!.run("ls /sys/class/net"), /eth1/);
    assert.deepEqual(
      (await d.get("g3")).nics.map((n) => n.slot),
      ["eth0"],
    );
  });

  it("a switch network is a kernel bridge closed to the host, its guests' ports pinned to their MACs; TAPs come and go with NICs", async () => {
    const net = (await d.api("GET", "/v1/networks")).body.networks.find((n: { name: string }) => n.name === "lan");
    assert.match(net.bridge, /^umlbr-[0-9a-f]{8}$/);
    assert.equal(net.switchPid, null, "no switch process");
    assert.doesNotMatch(sh("ip", ["-o", "addr", "show", "dev", net.bridge]), /inet/, "no address of the host's on it, IPv4 or IPv6");
    const g1 = (await d.get("g1")).nics[0]!;
    const tap = taps.g1!;
    assert.match(sh("ip", ["-o", "link", "show", "dev", tap]), new RegExp(`master ${net.bridge}`));
    assert.match(sh("nft", ["list", "table", "bridge", `umld_${recordedId(net.bridge)}`]), new RegExp(`iifname "${tap}" ether saddr != ${g1.mac} drop`));

    // the host's own addresses are not reachable from the segment: not even ARP gets an answer (no IP probe: the host would route its reply away)
    sh("ip", ["link", "add", "umldtest-d0", "type", "veth", "peer", "name", "umldtest-d1"]); // a host address on an interface of the test's
    try {
      sh("ip", ["addr", "add", "198.18.99.1/32", "dev", "umldtest-d0"]);
      sh("ip", ["link", "set", "umldtest-d0", "up"]);
      await con.g1!.run("ip route add 198.18.99.1 dev eth0");
      const answered = async () => /Received [1-9]/.test(await con.g1!.run("arping -c 1 -w 1 -I eth0 198.18.99.1"));
      assert.equal(await answered(), false, "nothing from the segment reaches the host");
      const table = `umld_${recordedId(net.bridge)}`;
      sh("nft", ["delete", "table", "netdev", table]);
      assert.equal(await answered(), true, "the host does answer without the bridge's guard (the test can fail)");
      // any NIC change rewrites the network's guard
      assert.equal((await d.api("POST", "/v1/instances/g2/nics", { network: "lan" })).status, 201);
      assert.equal((await d.api("DELETE", "/v1/instances/g2/nics/eth1")).status, 200);
      assert.equal(await answered(), false, "closed again");
      await con.g1!.run("ip route del 198.18.99.1 dev eth0");
    } finally {
      sh("ip", ["link", "del", "umldtest-d0"]);
    }

    // a guest that takes another MAC is cut off until it takes its own back
    await con.g1!.run(`ip link set eth0 down; ip link set eth0 address 02:00:00:00:99:99; ip link set eth0 up`);
    assert.match(await con.g1!.run(`ping -c 2 -W 1 10.77.0.2`), /100% packet loss/, "frames from a MAC not its NIC's are dropped");
    await con.g1!.run(`ip link set eth0 down; ip link set eth0 address ${g1.mac}; ip link set eth0 up`);
    assert.match(await con.g1!.run(`ping -c 2 -W 3 10.77.0.2`), / 0% packet loss/);

    // TAPs come and go with NICs; a network's bridge and tables go with it
    assert.equal((await d.api("POST", "/v1/networks", { name: "lazy", subnet: "10.78.0.0/24" })).status, 201);
    await d.create("lz");
    const nic = await d.api("POST", "/v1/instances/lz/nics", { network: "lazy" });
    assert.equal(nic.status, 201);
    assert.ok(umlLinks().includes(nic.body.hostInterface), "the TAP is made with the NIC");
    await d.mustAct("lz", "start");
    await d.mustAct("lz", "halt");
    // an escaped guest can give its TAP to a group (every guest is in the catalogue's) with its own TUN descriptor
    const tapLz = nic.body.hostInterface as string;
    const owner = readFileSync(`/sys/class/net/${tapLz}/owner`, "utf8").trim();
    const helper = `${mkdtempSync("/tmp/umld-tapio-")}/tap-ioctls`;
    execFileSync("cc", ["-O2", "-static", "-o", helper, `${REPO}tests/fixtures/tap-ioctls.c`]);
    chmodSync(dirname(helper), 0o755);
    const other = readFileSync(`/sys/class/net/${taps.g1}/owner`, "utf8").trim();
    assert.throws(() => sh("setpriv", [`--reuid=${other}`, `--regid=${other}`, "--clear-groups", "--inh-caps=-all", helper, tapLz, "group", "1"]), /TUNSETIFF/, "another guest's uid cannot open it");
    sh("setpriv", [`--reuid=${owner}`, `--regid=${owner}`, "--clear-groups", "--inh-caps=-all", helper, tapLz, "group", "2000000000"]);
    assert.equal(readFileSync(`/sys/class/net/${tapLz}/group`, "utf8").trim(), "2000000000", "the guest's uid can do it");
    await d.mustAct("lz", "start");
    assert.equal(readFileSync(`/sys/class/net/${tapLz}/group`, "utf8").trim(), "-1", "made again at the next start: no other uid may open it");
    assert.equal(readFileSync(`/sys/class/net/${tapLz}/owner`, "utf8").trim(), owner);
    rmSync(dirname(helper), { recursive: true, force: true });
    await d.mustAct("lz", "halt");
    assert.equal((await d.api("DELETE", "/v1/instances/lz/nics/eth0")).status, 200);
    assert.ok(!umlLinks().includes(nic.body.hostInterface), "and goes with it");
    const lazy = (await d.api("GET", "/v1/networks")).body.networks.find((n: { name: string }) => n.name === "lazy");
    assert.equal((await d.api("DELETE", "/v1/instances/lz")).status, 200);
    assert.equal((await d.api("DELETE", "/v1/networks/lazy")).status, 200);
    assert.ok(!umlLinks().includes(lazy.bridge), "the bridge goes with the network");
    assert.ok(!umldTables().includes(`umld_${recordedId(lazy.bridge)}`), "and its tables");
  });

  it("after a daemon restart the network still works and nothing is duplicated; an older umld's switch is retired; after deleting everything nothing is left", async () => {
    const mine = recordedHostPieces(d.stateDir);
    const links = umlLinks()
      .filter((l) => mine.links.includes(l))
      .sort();
    const tables = umldTables()
      .filter((t) => mine.tables.includes(t))
      .sort();
    assert.equal(tables.length, 4, "a bridge and a netdev table per switch network");
    for (const c of Object.values(con)) c.close();
    await d.kill("SIGTERM");
    // what an older umld left: a uml_switch with its control socket under STATE/net
    const old = `${d.stateDir}/net/0123456789abcdef`;
    mkdirSync(`${old}/sock`, { recursive: true });
    const sw = spawn("uml_switch", ["-unix", `${old}/sock/ctl`], { stdio: "ignore", detached: true });
    writeFileSync(`${old}/switch.pid`, `${sw.pid}\n`);
    await until("the old switch's socket", () => readdirSync(`${old}/sock`).includes("ctl"));
    const oldExit = new Promise((r) => sw.once("exit", r));
    d = await TestDaemon.start({ stateDir: d.stateDir, logLevel: "info" });
    await oldExit;
    assert.deepEqual(readdirSync(`${d.stateDir}/net`), [], "the old switch stopped and its files removed");
    assert.deepEqual(
      umlLinks()
        .filter((l) => mine.links.includes(l))
        .sort(),
      links,
      "the same bridges and TAPs, adopted",
    );
    assert.deepEqual(
      umldTables()
        .filter((t) => mine.tables.includes(t))
        .sort(),
      tables,
      "the same tables, none added",
    );
    con.g1 = await d.console("g1", false);
    assert.match(await con.g1.run("ping -c 2 -W 3 10.77.0.2"), / 0% packet loss/);
    con.g1.close();
    delete con.g1;
    const inUse = await d.api("DELETE", "/v1/networks/lan");
    assert.equal(inUse.status, 409);
    assert.equal(inUse.body.error.code, "network_in_use");
    for (const n of ["g1", "g2", "g3"]) assert.equal((await d.api("DELETE", `/v1/instances/${n}?force=true`)).status, 200);
    for (const net of ["lan", "other"]) assert.equal((await d.api("DELETE", `/v1/networks/${net}`)).status, 200);
    assert.deepEqual(
      umlLinks().filter((l) => mine.links.includes(l)),
      [],
      "no bridge or TAP left",
    );
    assert.deepEqual(
      umldTables().filter((t) => mine.tables.includes(t)),
      [],
      "no table left",
    );
    assert.deepEqual(readdirSync(`${d.stateDir}/net`), [], "no files left");
  });
});
