import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { UsageSample } from "../../protocol/usage.js";
import { tailLines } from "../../core/console/log-tail.js";
import { crashClass } from "../../core/metrics/crash-reasons.js";
import { HISTORY_MS, UsageHistory } from "../../core/metrics/usage-history.js";
import { classifyExit } from "../../core/supervisor/exit-reason.js";
import { redactSecrets } from "../../core/tenants/secrets.js";

const sample = (cpu: number, rx: number): UsageSample => ({
  at: "",
  cpuSeconds: cpu,
  cpuPercent: null,
  memoryTargetBytes: 64 << 20,
  memoryHostBytes: 1 << 20,
  memoryGuestAvailableBytes: null,
  rxBytes: rx,
  txBytes: null,
  rxPackets: null,
  txPackets: null,
  rxBytesPerS: null,
  txBytesPerS: null,
});

describe("usage, crash reasons, console tails, log redaction", () => {
  it("the history keeps one reading per interval for an hour, with rates between kept readings and none across a reboot", () => {
    const h = new UsageHistory(30_000);
    const t0 = Date.now() - HISTORY_MS - 60_000;
    h.offer(t0, sample(1, 0));
    h.offer(t0 + 5000, sample(2, 0)); // too soon: not kept
    for (let i = 1; i <= 130; i++) h.offer(t0 + i * 30_000, sample(1 + i * 3, i * 3000));
    h.offer(t0 + 131 * 30_000, sample(0.5, 0)); // a new boot: counters start again
    const s = h.samples(t0 + 131 * 30_000);
    assert.ok(s.length >= 118 && s.length <= 121, `an hour of 30 s readings (${s.length})`);
    assert.ok(s.every((x) => Date.parse(x.at) >= t0 + 131 * 30_000 - HISTORY_MS));
    const mid = s[s.length - 2]!;
    assert.equal(mid.cpuPercent, 10, "3 CPU seconds over 30 s: 10% of a core");
    assert.equal(mid.rxBytesPerS, 100);
    assert.equal(s.at(-1)!.cpuPercent, null, "a counter that went back is a reboot, not a negative rate");
    assert.equal(s.at(-1)!.txBytes, null, "null stays null");
  });

  it("groups crash reasons into a few classes (label values) and every reason exit-reason.ts gives lands in one", () => {
    const f = { code: null, signal: null, stopRequested: null, panicMessage: null, consoleTail: "" };
    assert.equal(crashClass(classifyExit({ ...f, panicMessage: "Attempted to kill init!" }).reason), "panic");
    assert.equal(crashClass(classifyExit({ ...f, signal: "SIGKILL" }).reason), "signal");
    assert.equal(crashClass(classifyExit({ ...f, code: 3 }).reason), "exit-status");
    assert.equal(crashClass(classifyExit(f).reason), "ended-unknown");
    assert.equal(crashClass("exited while daemon was down"), "while-daemon-down");
    assert.equal(crashClass("supervisor worker died: boom"), "supervisor");
    assert.equal(crashClass("something new"), "other");
  });

  it("tails a console log across its rotation, from the end, without a trailing empty line", () => {
    const dir = mkdtempSync("/tmp/umld-tail-");
    try {
      writeFileSync(`${dir}/log.1`, `${Array.from({ length: 50_000 }, (_, i) => `old ${i}`).join("\n")}\n`);
      writeFileSync(`${dir}/log`, "new 0\nnew 1\nnew 2\n");
      const tail = (n: number) => tailLines([`${dir}/log`, `${dir}/log.1`], n).toString();
      assert.equal(tail(2), "new 1\nnew 2\n");
      assert.equal(tail(3), "new 0\nnew 1\nnew 2\n");
      assert.equal(tail(5), "old 49998\nold 49999\nnew 0\nnew 1\nnew 2\n");
      assert.equal(tail(30_000).split("\n").length - 1, 30_000, "across 64 KiB chunks");
      assert.equal(tailLines([`${dir}/none`], 5).length, 0);
      assert.ok(tailLines([`${dir}/log`, `${dir}/log.1`], 100_000, 1000).length <= 1000, "never more than maxBytes");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("scrubs token secrets from log lines, keeping a tenant token's id", () => {
    const secret = "ab".repeat(32);
    assert.equal(redactSecrets(`{"h":"Bearer umld_0123456789abcdef_${secret}"}`), `{"h":"Bearer umld_0123456789abcdef_[redacted]"}`);
    assert.equal(redactSecrets(`token umld_${secret} used`), "token umld_[redacted] used");
    assert.equal(redactSecrets(`{"instance":"umld_web"}`), `{"instance":"umld_web"}`);
  });
});
