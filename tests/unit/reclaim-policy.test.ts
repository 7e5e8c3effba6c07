import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideReclaim, RECLAIM, reclaimHeadroomMiB, type ReclaimInput } from "../../core/guest/reclaim-policy.js";

const MiB = 1024;
/** A 256 MiB guest, nothing unplugged, quiet for a minute, sampled now with `free`/`avail` MiB. */
function input(free: number, avail: number, o: Partial<ReclaimInput> = {}): ReclaimInput {
  const now = 100_000;
  return {
    maxMiB: 256,
    ceilingMiB: 256,
    unpluggedMiB: 0,
    now,
    sample: { at: now, freeKiB: free * MiB, availKiB: avail * MiB },
    prev: null,
    lastFallAt: now - 60_000,
    lastPlugAt: 0,
    ...o,
  };
}

describe("memory reclaim policy", () => {
  it("keeps a quarter of the boot size free, up to 64 MiB, never below the safety floor", () => {
    assert.equal(reclaimHeadroomMiB(64), 24);
    assert.equal(reclaimHeadroomMiB(128), 32);
    assert.equal(reclaimHeadroomMiB(256), 64);
    assert.equal(reclaimHeadroomMiB(1024), 103, "the 10% safety floor");
  });

  it("unplugs what is free above the headroom once the guest has been quiet", () => {
    assert.deepEqual(decideReclaim(input(228, 226)), { op: "unplug", amountMiB: 162, falling: false, rateMiBs: 0, nextPollMs: RECLAIM.watchMs }, "the headroom stays available, not just free");
    const recentFall = decideReclaim(input(228, 226, { lastFallAt: 100_000 - 5000 }));
    assert.equal(recentFall.op, "none", "not while it allocated a moment ago");
    assert.equal(recentFall.nextPollMs, RECLAIM.watchMs, "but looks again soon");
    assert.equal(decideReclaim(input(228, 226, { lastPlugAt: 100_000 - 10_000 })).op, "none", "nor right after it needed memory back");
    assert.equal(decideReclaim(input(70, 226)).op, "none", "less than the smallest step above the headroom (page cache is not unplugged)");
  });

  it("does not unplug a guest whose memory falls, and looks again quickly", () => {
    const d = decideReclaim(input(200, 198, { prev: { at: 100_000 - 1000, freeKiB: 228 * MiB, availKiB: 226 * MiB } }));
    assert.equal(d.op, "none");
    assert.equal(d.falling, true);
    assert.equal(Math.round(d.rateMiBs), 28);
    assert.equal(d.nextPollMs, RECLAIM.fastMs);
  });

  it("does not plug back what it just unplugged: the guest at its headroom is not short", () => {
    const after = decideReclaim(input(66, 64, { unpluggedMiB: 162, prev: { at: 100_000 - 1000, freeKiB: 66 * MiB, availKiB: 64 * MiB } }));
    assert.equal(after.op, "none");
  });

  it("plugs back before the guest runs short, more the faster it falls, never above its target or what was unplugged", () => {
    const short = decideReclaim(input(40, 40, { unpluggedMiB: 160 }));
    assert.equal(short.op, "plug");
    assert.equal(short.amountMiB, 2 * 64 - 40, "back to twice the headroom");
    const fast = decideReclaim(input(90, 90, { unpluggedMiB: 200, prev: { at: 100_000 - 200, freeKiB: 122 * MiB, availKiB: 122 * MiB } }));
    assert.equal(fast.op, "plug", "above the headroom now, below it at the next look at 160 MiB/s");
    assert.equal(fast.amountMiB, Math.ceil(2 * 64 + 160 - 90));
    assert.equal(decideReclaim(input(40, 40, { unpluggedMiB: 20 })).amountMiB, 20, "only what was unplugged");
    assert.equal(decideReclaim(input(40, 40, { unpluggedMiB: 160, ceilingMiB: 128 })).amountMiB, 32, "never above memoryMiB");
    assert.equal(decideReclaim(input(40, 40, { unpluggedMiB: 160, ceilingMiB: 96 })).op, "none", "at its target already");
  });

  it("looks rarely at a quiet guest with nothing to give", () => {
    assert.equal(decideReclaim(input(70, 100)).nextPollMs, RECLAIM.stableMs);
    assert.equal(decideReclaim(input(70, 90)).nextPollMs, RECLAIM.fastMs, "close to the headroom: closely");
  });
});
