import assert from "node:assert/strict";
import { execFile, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";
import { nsTcpRecorder, sh, tcpRecorder, TestNamespace, until } from "../harness/host-net.js";
import { spawn } from "node:child_process";

/**
 * A host network on a bridge the admin already has: the test makes the
 * "LAN" (a bridge with the host's address on it and a namespace as another
 * machine on it), and a real guest joins it with an address the admin gave.
 * Nothing leaves this machine.
 */
const LAN = "umldbrt0";

/** From inside a namespace: sends `line`, half-closes, prints "reply <what came back>", "error <code>" or "timeout". */
function exchangeCode(host: string, port: number, line: string): string {
  return `const s = require("net").connect(${port}, ${JSON.stringify(host)}, () => s.end(${JSON.stringify(`${line}\n`)})); let d = ""; s.on("data", (b) => d += b); s.on("end", () => { console.log("reply " + d.trim()); process.exit(); }); s.on("error", (e) => { console.log("error " + e.code); process.exit(); }); setTimeout(() => { console.log("timeout"); process.exit(); }, 4000);`;
}

function nsExchange(ns: TestNamespace, host: string, port: number, line: string): string {
  return ns.exec(process.execPath, ["-e", exchangeCode(host, port, line)]).trim();
}

describe("host networks bridged to an admin's bridge", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient | undefined;
  let lanNs: TestNamespace | undefined;
  let far: TestNamespace | undefined;
  const servers: ChildProcess[] = [];
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    try {
      sh("ip", ["link", "del", LAN]);
    } catch {
      // not there
    }
    sh("ip", ["link", "add", LAN, "type", "bridge"]);
    sh("ip", ["addr", "add", "10.249.0.10/24", "dev", LAN]);
    sh("ip", ["link", "set", LAN, "up"]);
    lanNs = TestNamespace.create("umldbt-lan", { hostEnd: "umldbt-v0", nsAddr: "10.249.0.200/24", bridge: LAN });
  });
  after(async () => {
    con?.close();
    for (const p of servers) p.kill();
    lanNs?.destroy();
    far?.destroy();
    await d?.stop();
    try {
      sh("ip", ["link", "del", LAN]);
    } catch {
      // gone
    }
  });

  it("bad requests change nothing", async () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ bridge: "x;reboot" }, "invalid_request"],
      [{ bridge: "umldnothere0" }, "invalid_request"],
      [{ bridge: "lo" }, "invalid_request"],
      [{ bridge: LAN, nat: true }, "invalid_request"],
      [{ bridge: LAN, kind: "switch" }, "invalid_request"],
    ];
    for (const [extra, code] of bad) {
      const r = await d.api("POST", "/v1/networks", { name: "lan", kind: "host", mode: "bridged", subnet: "10.249.0.0/24", ...extra });
      assert.equal(r.body.error?.code, code, JSON.stringify(extra));
    }
    assert.deepEqual((await d.api("GET", "/v1/networks")).body.networks, []);
  });

  it("a guest with the address the admin gave talks to a machine on the LAN both ways, and reaches no host service", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "lan", kind: "host", mode: "bridged", bridge: LAN, subnet: "10.249.0.0/24" });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    assert.deepEqual([net.body.bridge, net.body.bridged, net.body.nat, net.body.routed], [LAN, true, false, false]);
    assert.equal(sh("ip", ["-o", "-4", "addr", "show", "dev", LAN]).match(/inet /g)?.length, 1, "umld added no address to the admin's bridge");
    const lanMac = sh("cat", [`/sys/class/net/${LAN}/address`]).trim();
    await d.create("b1");
    await d.create("b2");
    const taken = await d.api("POST", "/v1/instances/b1/nics", { network: "lan", ip: "10.249.0.10" });
    assert.equal(taken.body.error?.code, "address_in_use", "the host's own address");
    assert.equal((await d.api("POST", "/v1/instances/b1/nics", { network: "lan", ip: "10.250.0.5" })).body.error?.code, "invalid_request");
    const nic = await d.api("POST", "/v1/instances/b1/nics", { network: "lan", ip: "10.249.0.50" });
    assert.equal(nic.status, 201, JSON.stringify(nic.body));
    assert.equal(nic.body.ip, "10.249.0.50");
    assert.match(sh("ip", ["-o", "link", "show", "dev", nic.body.hostInterface]), new RegExp(`master ${LAN}`));
    const auto = await d.api("POST", "/v1/instances/b2/nics", { network: "lan" });
    assert.equal(auto.body.ip, "10.249.0.2", "allocated after the router's first address");
    assert.equal((await d.api("POST", "/v1/instances/b2/nics", { network: "lan", ip: "10.249.0.50" })).body.error?.code, "address_in_use");

    await d.mustAct("b1", "start");
    con = await d.shell("b1");
    assert.match(await con.run("ip -4 addr show eth0"), /inet 10\.249\.0\.50\/24/, "configured from its MAC");
    assert.equal(sh("cat", [`/sys/class/net/${LAN}/address`]).trim(), lanMac, "the LAN still sees the host's bridge at its own MAC, whatever the TAPs have");
    assert.match(await con.run("ping -c 2 -W 3 10.249.0.200"), / 0% packet loss/);
    const srv = nsTcpRecorder(lanNs!, 7020);
    servers.push(srv.proc);
    await srv.ready;
    await con.run("echo hello-lan | nc -w 3 10.249.0.200 7020");
    assert.equal(await until("the LAN machine to get a connection", () => srv.lines()[0]), "10.249.0.50 hello-lan");
    con.type("(echo from-guest | nc -l -p 8000 > /tmp/got) &\n");
    await con.runUntil("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -i ':1F40 '", /:1F40 .* 0A /i);
    assert.equal(nsExchange(lanNs!, "10.249.0.50", 8000, "hello-guest"), "reply from-guest");

    // the host on the LAN: a service on its address is the LAN's, but not the guest's
    const rec = tcpRecorder("10.249.0.10");
    const port = await rec.ready;
    try {
      assert.match(await con.run(`echo from-guest | nc -w 2 10.249.0.10 ${port}; echo nc-exit=$?`, 30_000), /nc-exit=1/);
      // asynchronously: the listener is in this process
      const got = await promisify(execFile)("ip", ["netns", "exec", lanNs!.name, process.execPath, "-e", exchangeCode("10.249.0.10", port, "from-lan")]);
      assert.match(got.stdout.trim(), /^reply/);
      await until("the host service to see the LAN machine", () => rec.got[0]);
      assert.deepEqual(rec.got, ["10.249.0.200 from-lan"], "only the LAN machine got through");
    } finally {
      rec.server.close();
    }
    assert.match(await con.run("ping -c 1 -W 3 10.249.0.10"), / 0% packet loss/, "ping still answers");
  });

  it("a bridged guest cannot use the host as its router, even while the host forwards for a routed network", async () => {
    const rt = await d.api("POST", "/v1/networks", { name: "rt", kind: "host", subnet: "10.252.0.0/24", mode: "routed" });
    assert.equal(rt.status, 201, JSON.stringify(rt.body));
    assert.equal(sh("cat", ["/proc/sys/net/ipv4/ip_forward"]).trim(), "1", "the host forwards");
    far = TestNamespace.create("umldbt-far", { hostEnd: "umldbt-f0", hostAddr: "198.18.89.1/30", nsAddr: "198.18.89.2/30" });
    far.exec("ip", ["route", "add", "10.249.0.0/24", "via", "198.18.89.1"]); // replies would find their way back
    far.exec("nft", ["add", "table", "inet", "count"]);
    far.exec("nft", ["add", "chain", "inet", "count", "in", "{ type filter hook input priority 0; }"]);
    far.exec("nft", ["add", "rule", "inet", "count", "in", "ip", "saddr", "10.249.0.50", "counter"]);
    await con!.run("ip route add 198.18.89.0/30 via 10.249.0.10");
    const out = await con!.run("ping -c 2 -W 2 198.18.89.2; echo x | nc -w 2 198.18.89.2 22", 30_000);
    assert.match(out, /100% packet loss/, out);
    assert.match(far.exec("nft", ["list", "chain", "inet", "count", "in"]), /packets 0 /, "nothing of the guest's arrived on the far side");
    await con!.run("ip route del 198.18.89.0/30");
    assert.match(await con!.run("ping -c 1 -W 3 10.249.0.200"), / 0% packet loss/, "the LAN is still its own");
    assert.equal((await d.api("DELETE", "/v1/networks/rt")).status, 200);
  });

  it("with the LAN's IPv6 prefix a bridged guest addresses itself from its MAC and pings the LAN over IPv6; a spoofed source is dropped", async () => {
    const net6 = await d.api("POST", "/v1/networks", { name: "lan6", kind: "host", mode: "bridged", bridge: LAN, subnet: "10.249.0.0/24", ipv6: "fdec:7::/64" });
    assert.equal(net6.body.error?.code, "invalid_request", "one network per bridge");
    // the LAN's router: the namespace advertises the prefix on the LAN (as the admin's router would)
    sh("sh", ["-c", `echo 0 > /proc/sys/net/ipv6/conf/${LAN}/accept_ra`]);
    lanNs!.exec("ip", ["-6", "addr", "add", "fdec:7::200/64", "dev", "vns0", "nodad"]);
    const ra = spawn(
      "ip",
      [
        "netns",
        "exec",
        lanNs!.name,
        "/usr/sbin/dnsmasq",
        "--keep-in-foreground",
        "--user=",
        "--group=",
        "--pid-file",
        "--conf-file=/dev/null",
        "--port=0",
        "--interface=vns0",
        "--enable-ra",
        "--dhcp-range=fdec:7::,ra-only,64",
        "--ra-param=vns0,high,10",
        "--leasefile-ro",
      ],
      { stdio: "ignore" },
    );
    servers.push(ra);
    con!.close();
    con = undefined;
    await d.mustAct("b1", "halt");
    for (const n of ["b1", "b2"]) assert.equal((await d.api("DELETE", `/v1/instances/${n}/nics/eth0`)).status, 200);
    assert.equal((await d.api("DELETE", "/v1/networks/lan")).status, 200);
    const net = await d.api("POST", "/v1/networks", { name: "lan", kind: "host", mode: "bridged", bridge: LAN, subnet: "10.249.0.0/24", ipv6: "fdec:7::/64" });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    const nic = await d.api("POST", "/v1/instances/b1/nics", { network: "lan", ip: "10.249.0.50" });
    assert.equal(nic.status, 201, JSON.stringify(nic.body));
    assert.ok(nic.body.ipv6?.startsWith("fdec:7:"), nic.body.ipv6);
    assert.equal((await d.api("POST", "/v1/instances/b2/nics", { network: "lan" })).status, 201);
    assert.ok(!sh("ip", ["-o", "-6", "addr", "show", "dev", LAN]).includes("fdec:7::1"), "umld put no address on the admin's bridge");
    await d.mustAct("b1", "start");
    con = await d.shell("b1");
    await con.runUntil("ip -6 addr show dev eth0", new RegExp(`inet6 ${nic.body.ipv6}/64 scope global(?! tentative)`), 30_000);
    assert.match(await con.run("ping -c 2 -W 3 fdec:7::200"), / 0% packet loss/, "guest to the LAN over IPv6");
    assert.match(lanNs!.exec("busybox", ["ping", "-c", "2", "-W", "3", nic.body.ipv6]), / 0% packet loss/, "the LAN to the guest");

    lanNs!.exec("nft", ["add", "table", "inet", "count6"]);
    lanNs!.exec("nft", ["add", "chain", "inet", "count6", "in", "{ type filter hook input priority 0; }"]);
    lanNs!.exec("nft", ["add", "rule", "inet", "count6", "in", "ip6", "saddr", "fdec:7::99", "counter"]);
    await con.run("echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad; ip -6 addr add fdec:7::99/128 dev eth0");
    const spoofed = await con.run("ping -c 3 -W 2 -I fdec:7::99 fdec:7::200", 30_000);
    assert.match(spoofed, /3 packets transmitted/, "the guest sent them");
    assert.match(lanNs!.exec("nft", ["list", "chain", "inet", "count6", "in"]), /packets 0 /, `nothing from the spoofed address reached the LAN: ${spoofed}`);
    await con.run("ip -6 addr del fdec:7::99/128 dev eth0");
  });

  it("deleting everything leaves the admin's bridge as it was and nothing of umld's", async () => {
    con?.close();
    con = undefined;
    const taps = (await d.api("GET", "/v1/networks")).body.networks[0].nics.length;
    assert.equal(taps, 2);
    for (const n of ["b1", "b2"]) assert.equal((await d.api("DELETE", `/v1/instances/${n}?force=true`)).status, 200);
    assert.equal((await d.api("DELETE", "/v1/networks/lan")).status, 200);
    assert.match(sh("ip", ["-o", "-4", "addr", "show", "dev", LAN]), /inet 10\.249\.0\.10\/24/, "the bridge is still there, as it was");
    assert.deepEqual(
      sh("ip", ["-o", "link", "show", "master", LAN])
        .split("\n")
        .filter((l) => l.includes("umlt-")),
      [],
      "no TAP left in it",
    );
  });
});
