import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { REPO, TestDaemon, type ConsoleClient } from "../harness/daemon.js";
import { sh, tcpRecorder, TestNamespace } from "../harness/host-net.js";

/**
 * Port forwards into a NATed host network with a real guest. The "outside"
 * is a network namespace the test creates, on a /30 of its own to the host;
 * nothing leaves this machine.
 */

/** From inside a namespace: sends `line`, half-closes, prints "reply <what came back>", "error <code>" or "timeout". */
function nsExchange(ns: TestNamespace, host: string, port: number, line: string): string {
  const code = `const s = require("net").connect(${port}, ${JSON.stringify(host)}, () => s.end(${JSON.stringify(`${line}\n`)})); let d = ""; s.on("data", (b) => d += b); s.on("end", () => { console.log("reply " + d.trim()); process.exit(); }); s.on("error", (e) => { console.log("error " + e.code); process.exit(); }); setTimeout(() => { console.log("timeout"); process.exit(); }, 4000);`;
  return ns.exec(process.execPath, ["-e", code]).trim();
}

/** The DNAT rules in a network's table (the table is umld_<network id>; its bridge is umlbr-<first 8 of the id>). */
function dnatRules(bridge: string): string[] {
  const id8 = bridge.replace("umlbr-", "");
  const table = sh("nft", ["list", "tables"])
    .split("\n")
    .map((l) => /^table inet (umld_\w+)/.exec(l.trim())?.[1])
    .find((t) => t?.startsWith(`umld_${id8}`));
  if (!table) return [];
  return sh("nft", ["list", "table", "inet", table])
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.includes("dnat ip to"));
}

describe("port forwards into a NATed host network", { timeout: 400_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient | undefined;
  let up: TestNamespace;
  let bridge = "";
  let tenantBridge = "";
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const as = { headers: { "umld-tenant": "fwt" } };
  let tenant = "";
  const ctl = (...args: string[]) => promisify(execFile)(process.execPath, [`${REPO}dist/cli/umlctl.js`, "--state-dir", d.stateDir, ...args], { timeout: 60_000 });

  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    up = TestNamespace.create("umldfw-up", { hostEnd: "umldfw-u0", hostAddr: "198.18.79.1/30", nsAddr: "198.18.79.2/30" });
  });
  after(async () => {
    con?.close();
    up?.destroy();
    await d?.stop();
  });

  /** A one-shot TCP server in the guest on port 8000: answers "from-guest", keeps what it got in /tmp/got. */
  async function guestServer(): Promise<void> {
    await con!.run("rm -f /tmp/got");
    con!.type("(echo from-guest | nc -l -p 8000 > /tmp/got) &\n");
    await con!.runUntil("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -i ':1F40 '", /:1F40 .* 0A /i);
  }

  it("a namespace reaches a TCP server in the guest through the forward, and nothing once it is removed", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "fnet", kind: "host", subnet: "10.236.0.0/24", nat: true });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    bridge = net.body.bridge;
    await d.create("f1");
    const nic = await d.api("POST", "/v1/instances/f1/nics", { network: "fnet" });
    assert.equal(nic.status, 201, JSON.stringify(nic.body));
    await d.mustAct("f1", "start");
    con = await d.shell("f1");
    await guestServer();
    assert.match(nsExchange(up, "198.18.79.1", port, "before"), /^(error|timeout)/, "no forward yet: nothing reaches the guest");

    const fwd = await d.api("POST", "/v1/networks/fnet/forwards", { listenPort: port, instance: "f1", targetPort: 8000 });
    assert.equal(fwd.status, 201, JSON.stringify(fwd.body));
    assert.deepEqual([fwd.body.protocol, fwd.body.listenAddress, fwd.body.targetAddress, fwd.body.slot], ["tcp", null, nic.body.ip, "eth0"]);
    assert.equal(nsExchange(up, "198.18.79.1", port, "hello-forward"), "reply from-guest", "the guest's server answered the namespace");
    assert.match(await con.run("cat /tmp/got"), /hello-forward/);

    const list = await d.api("GET", "/v1/networks/fnet/forwards");
    assert.equal(list.body.forwards.length, 1);
    const rm = await d.api("DELETE", `/v1/networks/fnet/forwards/tcp/${port}`);
    assert.equal(rm.status, 200, JSON.stringify(rm.body));
    await guestServer();
    assert.match(nsExchange(up, "198.18.79.1", port, "after"), /^(error|timeout)/, "removed: the guest is not reached");
    assert.equal((await con.run("cat /tmp/got 2>/dev/null; echo end")).includes("after"), false);
    assert.deepEqual(dnatRules(bridge), [], "no rule left in the network's table");
    assert.equal((await d.api("DELETE", `/v1/networks/fnet/forwards/tcp/${port}`)).body.error.code, "forward_not_found");
  });

  it("a forward on one listen address: reached there, refused when the port is taken, and bad input changes nothing", async () => {
    const fwd = await d.api("POST", "/v1/networks/fnet/forwards", { listenAddress: "198.18.79.1", listenPort: port, instance: "f1", targetPort: 8000 });
    assert.equal(fwd.status, 201, JSON.stringify(fwd.body));
    await guestServer();
    assert.equal(nsExchange(up, "198.18.79.1", port, "by-address"), "reply from-guest");

    const again = await d.api("POST", "/v1/networks/fnet/forwards", { listenPort: port, instance: "f1", targetPort: 22 });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "port_taken", "the same port on every address overlaps the one on 198.18.79.1");
    const rec = tcpRecorder("0.0.0.0");
    const busy = await rec.ready;
    try {
      const held = await d.api("POST", "/v1/networks/fnet/forwards", { listenPort: busy, instance: "f1", targetPort: 8000 });
      assert.equal(held.status, 409);
      assert.equal(held.body.error.code, "port_taken", "a host process listens there");
    } finally {
      rec.server.close();
    }
    const bad: Array<[unknown, string]> = [
      [{ listenPort: 0, instance: "f1" }, "invalid_request"],
      [{ listenPort: 70000, instance: "f1" }, "invalid_request"],
      [{ listenPort: port + 1, instance: "f1", protocol: "icmp" }, "invalid_request"],
      [{ listenPort: port + 1, instance: "f1", listenAddress: "198.18.79.1 drop" }, "invalid_request"],
      [{ listenPort: port + 1, instance: "f1", listenAddress: "198.18.79.1;" }, "invalid_request"],
      [{ listenPort: port + 1, instance: "f1", listenAddress: "127.0.0.1" }, "invalid_request"],
      [{ listenPort: port + 1, instance: "f1", listenAddress: "192.0.2.77" }, "invalid_request"],
      [{ listenPort: port + 1, instance: "f1", listenAddress: "10.236.0.1" }, "invalid_request"],
      [{ listenPort: port + 1, instance: "f1", targetPort: "22; flush ruleset" }, "invalid_request"],
      [{ listenPort: port + 1, instance: "nobody" }, "instance_not_found"],
      [{ listenPort: port + 1, instance: "f1", extra: 1 }, "invalid_request"],
    ];
    for (const [body, code] of bad) {
      const r = await d.api("POST", "/v1/networks/fnet/forwards", body);
      assert.equal(r.body.error?.code, code, JSON.stringify(body));
    }
    // a network that is not NATed, and an instance with no NIC on the network
    assert.equal((await d.api("POST", "/v1/networks", { name: "plain", kind: "host", subnet: "10.237.0.0/24" })).status, 201);
    assert.equal((await d.api("POST", "/v1/networks/plain/forwards", { listenPort: port + 1, instance: "f1" })).body.error.code, "not_forwardable");
    await d.create("f2");
    assert.equal((await d.api("POST", "/v1/networks/fnet/forwards", { listenPort: port + 1, instance: "f2" })).body.error.code, "not_forwardable");
    assert.equal((await d.api("DELETE", "/v1/networks/plain")).status, 200);

    const list = await d.api("GET", "/v1/networks/fnet/forwards");
    assert.deepEqual(
      list.body.forwards.map((f: { listenPort: number }) => f.listenPort),
      [port],
      "only the one good forward",
    );
    assert.equal(dnatRules(bridge).length, 1);

    // the same through umlctl: add (udp, HOST:GUEST), ls, rm
    assert.match((await ctl("net", "forward", "add", "fnet", "f1", `${port + 2}:53`, "--udp")).stdout, new RegExp(`udp \\*:${port + 2} -> f1 10\\.236\\.0\\.2:53`));
    assert.match((await ctl("net", "forward", "ls", "fnet")).stdout, new RegExp(`udp .*:${port + 2}`));
    assert.equal(dnatRules(bridge).length, 2);
    assert.match((await ctl("net", "forward", "rm", "fnet", String(port + 2), "--udp")).stdout, new RegExp(`removed forward udp/${port + 2}`));
    assert.equal(dnatRules(bridge).length, 1);
  });

  it("a tenant forwards only to its own guests and only from the ports its admin granted", async () => {
    assert.equal((await d.api("POST", "/v1/tenants", { name: "fwt", quotas: { forwardPorts: { first: port + 100, last: port + 109 } } })).status, 201);
    assert.equal((await d.api("POST", "/v1/tenants", { name: "bad", quotas: { forwardPorts: { first: 9, last: 8 } } })).body.error.code, "invalid_request");
    tenant = (await d.api("POST", "/v1/tenants/fwt/tokens", { name: "t" })).body.token;
    const tnet = await d.api("POST", "/v1/networks", { name: "tnet", kind: "host", subnet: "10.246.0.0/24", nat: true }, as);
    assert.equal(tnet.status, 201, JSON.stringify(tnet.body));
    tenantBridge = tnet.body.bridge;
    assert.equal((await d.api("POST", "/v1/instances", { name: "tg" }, { token: tenant })).status, 201);
    assert.equal((await d.api("POST", "/v1/instances/tg/nics", { network: "tnet" }, { token: tenant })).status, 201);

    const outside = await d.api("POST", "/v1/networks/tnet/forwards", { listenPort: port + 110, instance: "tg" }, { token: tenant });
    assert.equal(outside.status, 403);
    assert.equal(outside.body.error.code, "port_not_granted");
    assert.deepEqual(outside.body.error.details.granted, { first: port + 100, last: port + 109 });
    const other = await d.api("POST", "/v1/networks/tnet/forwards", { listenPort: port + 101, instance: "f1" }, { token: tenant });
    assert.equal(other.body.error.code, "instance_not_found", "the admin's guest does not exist for the tenant");
    const adminNet = await d.api("POST", "/v1/networks/fnet/forwards", { listenPort: port + 101, instance: "tg" }, { token: tenant });
    assert.equal(adminNet.body.error.code, "network_not_found");
    assert.equal(dnatRules(tenantBridge).length, 0, "nothing was added");

    const ok = await d.api("POST", "/v1/networks/tnet/forwards", { listenPort: port + 101, instance: "tg", targetPort: 80 }, { token: tenant });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.deepEqual([ok.body.network, ok.body.instance], ["tnet", "tg"], "the tenant's own names");
    assert.equal(dnatRules(tenantBridge).length, 1);
    assert.equal((await d.api("GET", "/v1/networks/tnet/forwards", undefined, { token: tenant })).body.forwards.length, 1);
    assert.equal((await d.api("GET", "/v1/networks/fnet/forwards", undefined, { token: tenant })).body.error.code, "network_not_found");
    // the NIC goes: its forward goes with it
    assert.equal((await d.api("DELETE", "/v1/instances/tg/nics/eth0", undefined, { token: tenant })).status, 200);
    assert.equal((await d.api("GET", "/v1/networks/tnet/forwards", undefined, { token: tenant })).body.forwards.length, 0);
    assert.deepEqual(dnatRules(tenantBridge), []);
  });

  it("after a daemon restart the forward works and is not duplicated; deleting the instance removes it", async () => {
    const stateDir = d.stateDir;
    await d.kill("SIGTERM");
    d = await TestDaemon.start({ stateDir });
    assert.equal(dnatRules(bridge).length, 1, "the table says it once");
    assert.equal((await d.api("GET", "/v1/networks/fnet/forwards")).body.forwards.length, 1);
    con?.close();
    con = await d.shell("f1");
    await guestServer();
    assert.equal(nsExchange(up, "198.18.79.1", port, "after-restart"), "reply from-guest");

    con.close();
    con = undefined;
    assert.equal((await d.api("DELETE", "/v1/instances/f1?force=true")).status, 200);
    assert.equal((await d.api("GET", "/v1/networks/fnet/forwards")).body.forwards.length, 0);
    assert.deepEqual(dnatRules(bridge), [], "the instance's forwards went with it");
    assert.match(nsExchange(up, "198.18.79.1", port, "gone"), /^(error|timeout)/);
  });
});
