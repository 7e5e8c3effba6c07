import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { InProcessDaemon } from "../harness/in-process.js";
import { alive, dnsmasqOf, sweepHostNetworking } from "../harness/host-net.js";

/** Every process running as `uid` (a zombie this process has not reaped yet is not running). */
function processesOf(uid: number): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const status = readFileSync(`/proc/${p}/status`, "utf8");
        return /^Uid:\s+(\d+)/m.exec(status)?.[1] === String(uid) && !/^State:\s+Z/m.test(status);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * A network's dnsmasq across daemon starts (the re-adoption path every start
 * runs: Networks.start): an older umld's one (as nobody, writing its own pid
 * file) is replaced by a jailed one, a jailed one is kept, and deleting the
 * network leaves no process of its uid. Real dnsmasq, bridge and tables; no
 * traffic.
 */
describe("a network's dnsmasq across daemon starts", () => {
  let d: InProcessDaemon;
  before(async () => {
    d = await InProcessDaemon.start();
  });
  after(async () => {
    try {
      await d.api("DELETE", "/v1/networks/names");
    } finally {
      for (const p of dnsmasqOf(d.stateDir)) process.kill(p.pid, "SIGKILL"); // only if a test failed half-way
      sweepHostNetworking(d.stateDir);
      await d.stop();
    }
  });

  it("an older umld's dnsmasq (as nobody) is replaced by a jailed one at start, never run beside it; a jailed one is kept", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "names", kind: "host", subnet: "10.237.0.0/24", nat: true, dns: true });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    const [jailed] = dnsmasqOf(d.stateDir);
    assert.ok(jailed);
    const pidFile = readdirSync(`${d.stateDir}/net`).find((f) => /^dns-[0-9a-f]{16}\.pid$/.test(f))!;
    // what an older umld left: its dnsmasq, started as root, dropped to nobody, writing its own pid file
    process.kill(jailed.pid, "SIGTERM");
    for (let i = 0; i < 50 && alive(jailed.pid); i++) spawnSync("sleep", ["0.1"]);
    rmSync(`${d.stateDir}/net/${pidFile}`);
    const legacyArgs = ["--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=10.237.0.1", "--except-interface=lo", `--pid-file=${d.stateDir}/net/${pidFile}`];
    assert.equal(spawnSync("/usr/sbin/dnsmasq", legacyArgs).status, 0);
    const legacy = Number(readFileSync(`${d.stateDir}/net/${pidFile}`, "utf8").trim());
    assert.match(readFileSync(`/proc/${legacy}/status`, "utf8"), /^Uid:\s+65534\s/m, "the old one runs as nobody");

    d.services.instances.networks.start(); // what a daemon start does for every network
    assert.ok(!alive(legacy), "the old one was stopped");
    const now = dnsmasqOf(d.stateDir);
    assert.equal(now.length, 1, "one dnsmasq for the network");
    assert.equal(now[0]!.uid, jailed.uid, "the network's own uid");
    d.services.instances.networks.start();
    assert.deepEqual(dnsmasqOf(d.stateDir), now, "a jailed one is re-adopted, not started again");
  });

  it("a dnsmasq that died is started again by the daemon's watch, under the network's uid, and only once", async () => {
    const [p] = dnsmasqOf(d.stateDir);
    assert.ok(p);
    process.kill(p.pid, "SIGKILL"); // what its address-space or file-size limit would do
    for (let i = 0; i < 50 && alive(p.pid); i++) spawnSync("sleep", ["0.1"]);
    d.services.instances.networks.reviveServices(); // the watch's tick (every 10 s)
    const now = dnsmasqOf(d.stateDir);
    assert.equal(now.length, 1, "one dnsmasq for the network again");
    assert.notEqual(now[0]!.pid, p.pid);
    assert.equal(now[0]!.uid, p.uid, "the network's own uid");
    d.services.instances.networks.reviveServices();
    assert.deepEqual(dnsmasqOf(d.stateDir), now, "a running one is left as it is");
  });

  it("deleting the network leaves no process of its uid, and no file of its dnsmasq", async () => {
    const [p] = dnsmasqOf(d.stateDir);
    assert.ok(p);
    assert.equal((await d.api("DELETE", "/v1/networks/names")).status, 200);
    assert.deepEqual(processesOf(p.uid), [], "nothing runs as the network's uid, which the next network or guest may get");
    assert.deepEqual(
      readdirSync(`${d.stateDir}/net`).filter((f) => /^(dns|ra)-/.test(f)),
      [],
    );
  });
});
