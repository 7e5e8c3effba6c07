import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createSocket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import { REPO, TestDaemon } from "../harness/daemon.js";
import { sh } from "../harness/host-net.js";

/**
 * Review finding: an escaped guest sets its own TAP's host-side MAC to a
 * neighbour's NIC MAC (SIOCSIFHWADDR on its TUN descriptor, no capability).
 * The bridge then holds a *local* FDB entry for that MAC on the attacker's
 * port, and br_dev_xmit forwards what the host sends to that MAC (a host
 * network's gateway traffic, NATed replies) to the attacker's TAP: a read of
 * the neighbour's traffic, not only the denial of service docs/security.md
 * states; the guard's per-port destination rule (segment-guard.ts) stops it.
 * No UML is booted: the "guests" are their uids holding their TAPs.
 */
describe("review: a TAP's host-side MAC taken from a neighbour on a host network", { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let dir = "";
  let bridge = "";
  let victimIp = "";
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    dir = mkdtempSync("/tmp/umld-review-");
    chmodSync(dir, 0o755);
    for (const f of ["tap-ioctls", "tap-listen"]) execFileSync("cc", ["-O2", "-static", "-o", `${dir}/${f}`, `${REPO}tests/fixtures/${f}.c`]);
  });
  after(async () => {
    if (bridge && victimIp) {
      try {
        sh("ip", ["neigh", "del", victimIp, "dev", bridge]);
      } catch {
        // gone with the bridge
      }
    }
    for (const n of ["atk", "vic"]) await d?.api("DELETE", `/v1/instances/${n}?force=true`);
    await d?.api("DELETE", "/v1/networks/hn");
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const asUid = (uid: string, args: string[]) => ["--reuid", uid, "--regid", uid, "--clear-groups", "--inh-caps=-all", ...args];
  /** Both TAPs held open for 4 s while the host sends to the victim; what each saw. */
  async function round(taps: Record<string, { tap: string; uid: string; mac: string; ip: string }>): Promise<Record<string, number>> {
    const seen: Record<string, number> = {};
    const outputs: Record<string, string> = {};
    const done = Object.entries(taps).map(([who, t]) => {
      const extra = who === "vic" ? [t.mac, t.ip] : []; // the victim announces itself: the bridge learns its port
      const p = spawn("setpriv", asUid(t.uid, [`${dir}/tap-listen`, t.tap, "4", taps.vic!.ip, ...extra]), { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      p.stdout.on("data", (b: Buffer) => (out += b.toString()));
      p.stderr.on("data", (b: Buffer) => (out += b.toString()));
      return new Promise<void>((res) =>
        // close, not exit: exit may come before its output is read (seen as NaN under load)
        p.on("close", () => {
          seen[who] = Number(/seen (\d+)/.exec(out)?.[1] ?? Number.NaN);
          if (Number.isNaN(seen[who])) outputs[who] = out;
          res();
        }),
      );
    });
    await new Promise((r) => setTimeout(r, 1200));
    // three UDP datagrams from the host to the victim (nobody answers: only where the frames go matters)
    const s = createSocket("udp4");
    for (let i = 0; i < 3; i++) await new Promise((r) => s.send(`review-${i}`, 9, taps.vic!.ip, r));
    s.close();
    await Promise.all(done);
    assert.deepEqual(outputs, {}, "every listener reports what it saw");
    return seen;
  }

  it("the host's frames to the victim's MAC reach only the victim's TAP, also after the attacker retargets its TAP's MAC", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "hn", kind: "host", subnet: "10.239.0.0/24" });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    bridge = net.body.bridge;
    const t: Record<string, { tap: string; uid: string; mac: string; ip: string }> = {};
    for (const n of ["atk", "vic"]) {
      await d.create(n);
      const nic = await d.api("POST", `/v1/instances/${n}/nics`, { network: "hn" });
      assert.equal(nic.status, 201, JSON.stringify(nic.body));
      const tap = nic.body.hostInterface as string;
      t[n] = { tap, uid: readFileSync(`/sys/class/net/${tap}/owner`, "utf8").trim(), mac: nic.body.mac, ip: nic.body.ip };
    }
    victimIp = t.vic!.ip;
    // the host knows the victim (as it would once the victim talked to its gateway)
    sh("ip", ["neigh", "replace", victimIp, "lladdr", t.vic!.mac, "dev", bridge, "nud", "permanent"]);

    const before = await round(t);
    assert.ok(before.vic! >= 1, `the set-up works: the victim's TAP gets the host's datagrams (${JSON.stringify(before)})`);
    assert.equal(before.atk, 0, "the attacker sees none of them");

    // the attack: its own TAP, its own uid, no capability
    sh("setpriv", asUid(t.atk!.uid, [`${dir}/tap-ioctls`, t.atk!.tap, "mac", t.vic!.mac]));
    const afterAttack = await round(t);
    assert.equal(afterAttack.atk, 0, `the attacker's TAP received ${afterAttack.atk} of the host's frames to the victim (${JSON.stringify(afterAttack)})`);
    // what stays (docs/security.md): the bridge now takes the victim's MAC for its own, so the victim gets nothing either while it lasts
  });
});
