import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AuditCoalescer, type AuditDraft } from "../../daemon/auth/audit-coalescer.js";
import { addressKey, OVERFLOW_KEY, RateLimiter } from "../../daemon/auth/rate-limiter.js";

describe("rate limiter", () => {
  it("allows max hits per window and key, then says when to retry", () => {
    const l = new RateLimiter(3, 60_000);
    const t0 = 1_000_000;
    assert.deepEqual(
      [1, 2, 3].map(() => l.hit("a", t0).ok),
      [true, true, true],
    );
    assert.deepEqual(l.hit("a", t0 + 15_000), { ok: false, retryAfterS: 45, limit: 3 });
    assert.equal(l.hit("b", t0 + 15_000).ok, true, "another key has its own budget");
    assert.equal(l.hit("a", t0 + 60_000).ok, true, "a new window starts after windowMs");
  });

  it("keys beyond its capacity share one window instead of growing the map", () => {
    const l = new RateLimiter(2, 60_000, 3);
    for (const k of ["a", "b", "c"]) l.hit(k, 0);
    assert.equal(l.hit("d", 1).ok, true);
    assert.equal(l.hit("e", 1).ok, true);
    assert.equal(l.hit("f", 1).ok, false, "d, e and f share the overflow window");
    assert.equal(l.size, 4, "three keys and the shared window");
    assert.equal(l.hit(OVERFLOW_KEY, 2).ok, false);
    l.sweep(60_002);
    assert.equal(l.size, 0, "ended windows are forgotten");
  });

  it("keys addresses: IPv4 as is (also mapped), IPv6 by its /64", () => {
    assert.equal(addressKey("203.0.113.9"), "addr:203.0.113.9");
    assert.equal(addressKey("::ffff:203.0.113.9"), "addr:203.0.113.9");
    assert.equal(addressKey("2001:db8:1:2:aaaa::1"), "addr:2001:db8:1:2::/64");
    assert.equal(addressKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "addr:2001:db8:1:2::/64");
    assert.equal(addressKey("2001:0db8::5"), "addr:2001:db8:0:0::/64");
    assert.equal(addressKey("::1"), "addr:0:0:0:0::/64");
    assert.equal(addressKey(undefined), "addr:unknown");
  });
});

describe("coalesced audit", () => {
  const entry = (outcome: string): AuditDraft => ({ principal: "anonymous", tenant: null, action: "GET /v1/instances", object: null, status: 401, outcome, remote: "203.0.113.9" });

  it("writes the first refusal at once and the rest of the window as one row with its count", () => {
    const rows: Array<AuditDraft & { count: number }> = [];
    const c = new AuditCoalescer((r) => rows.push(r), 60_000);
    c.note("addr:x", entry("unauthorized"), 0);
    for (let i = 1; i <= 999; i++) c.note("addr:x", entry(i > 10 ? "rate_limited" : "unauthorized"), i);
    c.note("addr:y", entry("unauthorized"), 5);
    assert.equal(rows.length, 2, "one row per key so far");
    c.flush(59_999);
    assert.equal(rows.length, 2, "the window has not ended");
    c.flush(60_000);
    assert.equal(rows.length, 3);
    assert.deepEqual({ count: rows[2]!.count, outcome: rows[2]!.outcome }, { count: 999, outcome: "rate_limited" });
    c.note("addr:x", entry("unauthorized"), 70_000);
    assert.equal(rows.length, 4, "a new window writes its first refusal at once again");
    c.flush(Infinity);
    assert.equal(rows.length, 4, "nothing suppressed, nothing more to write");
  });

  it("a window that ends when the next refusal comes writes its count first", () => {
    const rows: Array<{ count: number }> = [];
    const c = new AuditCoalescer((r) => rows.push(r), 1000);
    c.note("k", entry("unauthorized"), 0);
    c.note("k", entry("unauthorized"), 10);
    c.note("k", entry("unauthorized"), 20);
    c.note("k", entry("unauthorized"), 1500);
    assert.deepEqual(
      rows.map((r) => r.count),
      [1, 2, 1],
    );
  });
});
