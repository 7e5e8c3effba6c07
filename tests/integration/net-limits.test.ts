import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";
import { netbenchImage } from "../harness/fixtures.js";
import { sh, umlLinks } from "../harness/host-net.js";

/** The view's limits beside netMbit (the cgroup's, none set here). */
const NO_CGROUP_LIMITS = { cpus: null, cpuWeight: null, ioWeight: null, pids: null };

/** Mbit/s of a netbench TCP run ("tcp bytes=… secs=… MBps=X"), or a failure with its output. */
function mbit(out: string): number {
  const m = /tcp bytes=\d+ secs=[\d.]+ MBps=([\d.]+)$/m.exec(out);
  if (!m) throw new Error(`netbench failed: ${out}`);
  return Number(m[1]) * 8;
}

/** What tc shows on a host interface: the tbf rate, or null. */
function tbfRate(ifname: string): string | null {
  return /tbf \S+ root .*rate (\S+)/.exec(sh("tc", ["qdisc", "show", "dev", ifname]))?.[1] ?? null;
}

/**
 * limits.netMbit with real guests on one switch network: "lim" is limited,
 * "free" is not, "sink" receives. Only upper bounds on the limited NIC and a
 * generous lower bound on the free one are asserted: this machine is shared.
 */
describe("NIC rate limits (limits.netMbit)", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  const dir = mkdtempSync("/tmp/umld-netlim-");
  const con: Record<string, ConsoleClient> = {};
  const ip: Record<string, string> = {};
  const tap: Record<string, string> = {};
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    await netbenchImage(d, "netbench", dir);
    assert.equal((await d.api("POST", "/v1/networks", { name: "fair", subnet: "10.252.0.0/24" })).status, 201);
  });
  after(async () => {
    for (const c of Object.values(con)) c.close();
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a NIC limited to 50 Mbit/s stays under ~60 Mbit/s each way while another guest's NIC is unaffected; lifted and set again live", async (t) => {
    for (const [name, limits] of [
      ["lim", { netMbit: 50 }],
      ["free", undefined],
      ["sink", undefined],
    ] as const) {
      const r = await d.api("POST", "/v1/instances", { name, memoryMiB: 128, image: "netbench", ...(limits ? { limits } : {}) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.deepEqual(r.body.limits, { ...NO_CGROUP_LIMITS, netMbit: limits?.netMbit ?? null });
      const nic = await d.api("POST", `/v1/instances/${name}/nics`, { network: "fair" });
      ip[name] = nic.body.ip;
      tap[name] = nic.body.hostInterface;
      await d.mustAct(name, "start");
      con[name] = await d.shell(name);
    }
    assert.equal(tbfRate(tap.lim!), "50Mbit", "the TAP is shaped (what the guest receives)");
    assert.equal(tbfRate(tap.lim!.replace("umlt-", "umlq-")), "50Mbit", "and its IFB (what it sends)");
    assert.equal(tbfRate(tap.free!), null);
    con.sink!.type("netbench serve 5001 > /dev/null 2>&1 &\n");
    await con.lim!.runUntil(`ping -c 1 -W 1 ${ip.sink}`, / 0% packet loss/);

    const sent = mbit(await con.lim!.run(`netbench tcp ${ip.sink} 5001 send 16 1`, 120_000));
    const received = mbit(await con.lim!.run(`netbench tcp ${ip.sink} 5001 recv 16 1`, 120_000));
    assert.ok(sent < 60, `the limited guest sent at ${sent.toFixed(1)} Mbit/s`);
    assert.ok(received < 60, `the limited guest received at ${received.toFixed(1)} Mbit/s`);
    const [limBusy, freeBusy] = await Promise.all([con.lim!.run(`netbench tcp ${ip.sink} 5001 send 16 4`, 120_000), con.free!.run(`netbench tcp ${ip.sink} 5001 send 64 1`, 120_000)]);
    assert.ok(mbit(limBusy) < 60, `the limited guest, four streams, beside the other: ${mbit(limBusy).toFixed(1)} Mbit/s`);
    assert.ok(mbit(freeBusy) > 60, `the unlimited guest meanwhile: ${mbit(freeBusy).toFixed(1)} Mbit/s`);
    t.diagnostic(`limited: sent ${sent.toFixed(1)}, received ${received.toFixed(1)}, four streams ${mbit(limBusy).toFixed(1)} Mbit/s; unlimited meanwhile ${mbit(freeBusy).toFixed(1)} Mbit/s`);

    const lifted = await d.api("PATCH", "/v1/instances/lim", { limits: { netMbit: null } });
    assert.equal(lifted.status, 200, JSON.stringify(lifted.body));
    assert.deepEqual(lifted.body.instance.limits, { ...NO_CGROUP_LIMITS, netMbit: null });
    assert.equal(tbfRate(tap.lim!), null);
    assert.ok(!umlLinks().includes(tap.lim!.replace("umlt-", "umlq-")), "no IFB without a limit");
    const free = mbit(await con.lim!.run(`netbench tcp ${ip.sink} 5001 send 64 1`, 120_000));
    assert.ok(free > 60, `lifted live: ${free.toFixed(1)} Mbit/s`);

    assert.equal((await d.api("PATCH", "/v1/instances/lim", { limits: { netMbit: 50 } })).status, 200);
    assert.equal(tbfRate(tap.lim!), "50Mbit");
    assert.equal((await d.api("POST", "/v1/networks", { name: "fair2", subnet: "10.253.0.0/24" })).status, 201);
    const hot = await d.api("POST", "/v1/instances/lim/nics", { network: "fair2" });
    assert.equal(hot.status, 201, JSON.stringify(hot.body));
    assert.equal(tbfRate(hot.body.hostInterface), "50Mbit", "a NIC hot-plugged later gets the limit");
  });

  it("bad limits are refused and change nothing; a tenant limits its own guest", async () => {
    for (const bad of [{ netMbit: 0 }, { netMbit: 100_001 }, { netMbit: 1.5 }, { netMbit: "50" }, { netMbit: 50, memory: 2 }, 50]) {
      const r = await d.api("PATCH", "/v1/instances/lim", { limits: bad });
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.equal(r.body.error.code, "invalid_request");
      const c = await d.api("POST", "/v1/instances", { name: "bad", limits: bad });
      assert.equal(c.body.error.code, "invalid_request", JSON.stringify(bad));
    }
    assert.deepEqual((await d.get("lim")).limits, { ...NO_CGROUP_LIMITS, netMbit: 50 });
    assert.equal(tbfRate(tap.lim!), "50Mbit");
    assert.equal((await d.api("GET", "/v1/instances/bad")).status, 404);

    assert.equal((await d.api("POST", "/v1/tenants", { name: "acme" })).status, 201);
    const token = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "t", actions: ["read", "create", "configure", "delete"] })).body.token as string;
    const made = await d.api("POST", "/v1/instances", { name: "own", limits: { netMbit: 10 } }, { token });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.deepEqual(made.body.limits, { ...NO_CGROUP_LIMITS, netMbit: 10 });
    const changed = await d.api("PATCH", "/v1/instances/own", { limits: { netMbit: 20 } }, { token });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.deepEqual(changed.body.instance.limits, { ...NO_CGROUP_LIMITS, netMbit: 20 });
    assert.equal((await d.api("DELETE", "/v1/instances/own", undefined, { token })).status, 200);
  });

  it("a limit outlives a daemon restart; a detached NIC takes its shaping with it", async () => {
    for (const c of Object.values(con)) c.close();
    await d.kill("SIGKILL");
    d = await TestDaemon.start({ stateDir: d.stateDir, logLevel: "info" });
    assert.equal(tbfRate(tap.lim!), "50Mbit");
    assert.deepEqual((await d.get("lim")).limits, { ...NO_CGROUP_LIMITS, netMbit: 50 });
    await d.mustAct("lim", "halt");
    assert.equal((await d.api("DELETE", "/v1/instances/lim/nics/eth0")).status, 200);
    assert.deepEqual(
      umlLinks().filter((l) => l === tap.lim || l === tap.lim!.replace("umlt-", "umlq-")),
      [],
      "TAP and IFB gone",
    );
  });
});
