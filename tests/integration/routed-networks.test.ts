import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";
import { ipForward, nsTcpRecorder, sh, TestNamespace, until } from "../harness/host-net.js";

/**
 * A routed host network with a real guest: the provider routes the subnet to
 * this host, and a namespace on the "uplink" side (a /30 of the test's own to
 * the host, with a route to the subnet through it) reaches the guest at its
 * own address, both ways, with no NAT. Nothing leaves this machine.
 */

/** From inside a namespace: sends `line`, half-closes, prints "reply <what came back>", "error <code>" or "timeout". */
function nsExchange(ns: TestNamespace, host: string, port: number, line: string): string {
  const code = `const s = require("net").connect(${port}, ${JSON.stringify(host)}, () => s.end(${JSON.stringify(`${line}\n`)})); let d = ""; s.on("data", (b) => d += b); s.on("end", () => { console.log("reply " + d.trim()); process.exit(); }); s.on("error", (e) => { console.log("error " + e.code); process.exit(); }); setTimeout(() => { console.log("timeout"); process.exit(); }, 4000);`;
  return ns.exec(process.execPath, ["-e", code]).trim();
}

describe("routed host networks", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient | undefined;
  let up: TestNamespace | undefined;
  const servers: ChildProcess[] = [];
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    con?.close();
    for (const p of servers) p.kill();
    up?.destroy();
    await d?.stop();
  });

  it("a namespace on the uplink reaches the guest at its own address and the guest reaches it, each seeing the other's real address", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "rnet", kind: "host", subnet: "10.247.0.0/24", mode: "routed" });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    assert.deepEqual([net.body.routed, net.body.nat, net.body.gateway], [true, false, "10.247.0.1"]);
    assert.equal(ipForward(), "1", "routing needs forwarding");
    up = TestNamespace.create("umldrt-up", { hostEnd: "umldrt-u0", hostAddr: "198.18.81.1/30", nsAddr: "198.18.81.2/30" });
    up.exec("ip", ["route", "add", "10.247.0.0/24", "via", "198.18.81.1"]); // the provider's route to the subnet
    await d.create("r1");
    const nic = await d.api("POST", "/v1/instances/r1/nics", { network: "rnet" });
    assert.equal(nic.status, 201, JSON.stringify(nic.body));
    assert.match(nic.body.mac, /^fa:/, "the guest routes through the host");
    await d.mustAct("r1", "start");
    con = await d.shell("r1");
    assert.match(await con.run("ip route"), /default via 10\.247\.0\.1/);

    // out: the server in the namespace sees the guest's own address
    const srv = nsTcpRecorder(up, 7010);
    servers.push(srv.proc);
    await srv.ready;
    await con.run("echo hello-routed | nc -w 3 198.18.81.2 7010");
    assert.equal(await until("the uplink server to get a connection", () => srv.lines()[0]), "10.247.0.2 hello-routed", "not masqueraded");

    // in: the namespace connects to the guest's own address; the guest sees the namespace's
    await con.run("rm -f /tmp/got /tmp/peer");
    con.type("(echo from-guest | nc -l -p 8000 > /tmp/got) &\n");
    await con.runUntil("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -i ':1F40 '", /:1F40 .* 0A /i);
    con.type("(sleep 1; netstat -tn > /tmp/peer) &\n");
    assert.equal(nsExchange(up, "10.247.0.2", 8000, "hello-guest"), "reply from-guest");
    assert.match(await con.run("cat /tmp/got"), /hello-guest/);
    assert.match(await con.runUntil("cat /tmp/peer", /198\.18\.81\.2/), /10\.247\.0\.2:8000\s+(::ffff:)?198\.18\.81\.2:\d+/, "the guest saw the client's own address");
    assert.match(await con.run("ping -c 2 -W 3 198.18.81.2"), / 0% packet loss/);
  });

  it("the guest still reaches no host service, and forwards are for NATed networks", async () => {
    assert.match(await con!.run("echo x | nc -w 2 198.18.81.1 22; echo nc-exit=$?", 30_000), /nc-exit=1/, "the host's uplink address is not a service for guests");
    const f = await d.api("POST", "/v1/networks/rnet/forwards", { listenPort: 20_000 + Math.floor(Math.random() * 10_000), instance: "r1" });
    assert.equal(f.body.error.code, "not_forwardable");
    for (const bad of [{ mode: "routed", nat: true }, { mode: "routed", kind: "switch" }, { mode: "bridge" }]) {
      const r = await d.api("POST", "/v1/networks", { name: "bad", kind: "host", subnet: "10.248.0.0/24", ...bad });
      assert.equal(r.body.error?.code, "invalid_request", JSON.stringify(bad));
    }
    assert.equal((await d.api("GET", "/v1/networks")).body.networks.length, 1, "nothing was made");
  });

  it("after the network is gone nothing of it is left", async () => {
    con!.close();
    con = undefined;
    const bridge = (await d.api("GET", "/v1/networks")).body.networks[0].bridge as string;
    assert.equal((await d.api("DELETE", "/v1/instances/r1?force=true")).status, 200);
    assert.equal((await d.api("DELETE", "/v1/networks/rnet")).status, 200);
    assert.ok(!sh("ip", ["-o", "link"]).includes(bridge), "bridge gone");
    assert.ok(!sh("nft", ["list", "tables"]).includes(`umld_${bridge.slice(6)}`), "table gone");
  });
});
