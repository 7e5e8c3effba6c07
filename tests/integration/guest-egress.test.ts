import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { cmdline, processesMatching, processUid } from "../../core/host/procfs.js";
import { TestDaemon, testGuestIds, type ConsoleClient } from "../harness/daemon.js";
import { guestTable, nsTcpRecorder, sh, tcpRecorder, TestNamespace, until } from "../harness/host-net.js";

/** The arguments of each slirp process running as `uid`. */
function slirpArgs(uid: number): string[][] {
  return processesMatching((argv) => argv[0]?.endsWith("slirp-fullbolt") ?? false)
    .filter((p) => processUid(p) === uid)
    .map((p) => (cmdline(p) ?? []).slice(1, -1)); // the trailing NUL leaves an empty last element
}

/**
 * What a user network guest's host processes (UML and its slirp, running as
 * the guest's uid) may reach on this machine. The test daemon's guests run
 * as uids of a range of its own, so the filter touches no other guest on the host.
 * All traffic stays here: listeners on the host's loopback and on an address
 * of a veth the test owns, and "metadata" (169.254.169.254) in a namespace
 * that a routing rule for the test daemon's uids alone sends it to.
 */
describe("guest egress: user networks reach the host only when an admin allows it", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient | undefined;
  let tenantToken = "";
  let range = "";
  let uid = 0; // the guest's, once it runs
  const rt = { table: String(70_000 + Math.floor(Math.random() * 10_000)), priority: String(20_000 + Math.floor(Math.random() * 5_000)) };
  const marker = `/tmp/umldtest-slirp-exec-${process.pid}`;
  let md: TestNamespace;
  let mdServer: ReturnType<typeof nsTcpRecorder>;
  let loopback: ReturnType<typeof tcpRecorder>;
  let hostIf: ReturnType<typeof tcpRecorder>;
  const ports = { loopback: 0, hostIf: 0, metadata: 7000 + Math.floor(Math.random() * 1000) };

  /** Runs `nc` in the guest; the listener's lines are read by the caller. */
  const send = (what: string, host: string, port: number) => con!.run(`echo ${what} | nc -w 3 ${host} ${port}; echo nc-exit=$?`, 30_000);
  /** A connection that was refused leaves nothing at the listener: wait long enough for one that was not. */
  const settle = () => new Promise((r) => setTimeout(r, 1500));

  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    range = testGuestIds(d.stateDir);
    assert.equal((await d.api("POST", "/v1/tenants", { name: "nf" })).status, 201);
    tenantToken = (await d.api("POST", "/v1/tenants/nf/tokens", { name: "t" })).body.token;
    md = TestNamespace.create("umldtest-md", { hostEnd: "umldtest-m0", hostAddr: "198.18.79.1/30", nsAddr: "198.18.79.2/30" });
    md.exec("ip", ["addr", "add", "169.254.169.254/32", "dev", "vns0"]);
    sh("ip", ["route", "add", "169.254.169.254/32", "via", "198.18.79.2", "dev", "umldtest-m0", "table", rt.table]);
    sh("ip", ["rule", "add", "uidrange", range, "lookup", rt.table, "priority", rt.priority]);
    mdServer = nsTcpRecorder(md, ports.metadata);
    await mdServer.ready;
    loopback = tcpRecorder("127.0.0.1");
    hostIf = tcpRecorder("198.18.79.1"); // an address of a host interface (the test's veth)
    ports.loopback = await loopback.ready;
    ports.hostIf = await hostIf.ready;
  });
  after(async () => {
    con?.close();
    loopback?.server.close();
    hostIf?.server.close();
    mdServer?.proc.kill();
    try {
      sh("ip", ["rule", "del", "priority", rt.priority, "uidrange", range]);
    } catch {
      // not made
    }
    sh("ip", ["route", "flush", "table", rt.table]);
    md?.destroy();
    rmSync(marker, { force: true });
    await d?.stop();
  });

  it("host access is the admin's to give: a tenant asking for it is refused and nothing is made", async () => {
    const asked = await d.api("POST", "/v1/networks", { name: "open", kind: "user", hostAccess: true }, { token: tenantToken });
    assert.equal(asked.status, 403, JSON.stringify(asked.body));
    assert.equal(asked.body.error.code, "forbidden");
    assert.equal(asked.body.error.details.field, "hostAccess");
    const closed = await d.api("POST", "/v1/networks", { name: "closed", kind: "user" }, { token: tenantToken });
    assert.equal(closed.status, 201, JSON.stringify(closed.body));
    assert.equal(closed.body.hostAccess, false, "the default");
    assert.deepEqual(
      (await d.api("GET", "/v1/networks", undefined, { token: tenantToken })).body.networks.map((n: { name: string }) => n.name),
      ["closed"],
    );
    const onSwitch = await d.api("POST", "/v1/networks", { name: "sw", subnet: "10.9.0.0/24", hostAccess: true });
    assert.equal(onSwitch.status, 400);
    assert.equal(onSwitch.body.error.code, "invalid_request", "user networks only");
  });

  it("a guest on a user network reaches neither the host's loopback (10.0.2.2) nor a host address nor metadata, and not slirp's command line", async () => {
    assert.equal((await d.api("POST", "/v1/instances", { name: "g1", memoryMiB: 64 }, { token: tenantToken })).status, 201);
    assert.equal((await d.api("POST", "/v1/instances/g1/nics", { network: "closed" }, { token: tenantToken })).status, 201);
    assert.equal((await d.api("PUT", "/v1/instances/g1/state", { action: "start" }, { token: tenantToken })).status, 200);
    uid = processUid((await d.get("nf.g1")).pid!)!;
    con = await d.console("nf.g1");
    await con.waitFor("g1:/# "); // a tenant's guest knows its own name only
    await con.runUntil("ip -4 addr show eth0", /inet 10\.0\.2\.15\/24/);

    assert.match(await send("to-loopback", "10.0.2.2", ports.loopback), /nc-exit=1/);
    assert.match(await send("to-host-if", "198.18.79.1", ports.hostIf), /nc-exit=1/);
    assert.match(await send("to-metadata", "169.254.169.254", ports.metadata), /nc-exit=1/);
    await settle();
    assert.deepEqual([loopback.got, hostIf.got, mdServer.lines()], [[], [], []], "no listener saw a connection");

    // slirp's telnet command line (10.0.2.0) would run this host program as the guest's uid
    const ctl = await con.run(`(echo 'exec /usr/bin/touch ${marker}'; sleep 1) | timeout 5 nc -w 3 10.0.2.0 23`);
    await settle();
    assert.equal(existsSync(marker), false, "no host program ran");
    assert.match(ctl, /Permission denied/);
    assert.match(sh("nft", ["list", "set", "inet", guestTable(d.stateDir), "guests"]), new RegExp(`elements = \\{[^}]*\\b${range}\\b`), "the daemon's guest uids are filtered");
  });

  it("the same guest reaches the host's services once it has a NIC on a user network an admin opened; metadata stays closed", async () => {
    const open = await d.api("POST", "/v1/networks", { name: "open", kind: "user", hostAccess: true }, { headers: { "umld-tenant": "nf" } });
    assert.equal(open.status, 201, JSON.stringify(open.body));
    assert.deepEqual([open.body.name, open.body.hostAccess], ["open", true], "the tenant's network, as the tenant sees it");
    const nic = await d.api("POST", "/v1/instances/g1/nics", { network: "open" }, { token: tenantToken });
    assert.equal(nic.status, 201, JSON.stringify(nic.body));
    assert.deepEqual([nic.body.slot, nic.body.live], ["eth1", true]);
    await con!.runUntil("ip -4 addr show eth1", /inet 10\.0\.2\.15\/24/);
    assert.deepEqual(slirpArgs(uid), [["control addr 255.255.255.255"], ["control addr 255.255.255.255"]], "the hot-plugged slirp too is started with its command line closed");
    // host access belongs to the guest's uid: both of its slirps carry it
    await send("open-loopback", "10.0.2.2", ports.loopback);
    assert.equal(await until("the loopback listener", () => loopback.got[0]), "127.0.0.1 open-loopback");
    await send("open-host-if", "198.18.79.1", ports.hostIf);
    assert.equal(await until("the host address listener", () => hostIf.got[0]), "198.18.79.1 open-host-if");
    assert.match(await send("open-metadata", "169.254.169.254", ports.metadata), /nc-exit=1/);
    await settle();
    assert.deepEqual(mdServer.lines(), [], "metadata is never a guest's");
  });

  it("host access ends with the NIC: detached, the guest is refused again", async () => {
    await con!.run("ip link set eth1 down");
    assert.equal((await d.api("DELETE", "/v1/instances/g1/nics/eth1", undefined, { token: tenantToken })).status, 200);
    assert.match(await send("after-detach", "10.0.2.2", ports.loopback), /nc-exit=1/);
    await settle();
    assert.deepEqual(loopback.got, ["127.0.0.1 open-loopback"], "nothing new");
    assert.doesNotMatch(sh("nft", ["list", "set", "inet", guestTable(d.stateDir), "host_ok"]), new RegExp(`\\b${uid}\\b`));
  });
});
