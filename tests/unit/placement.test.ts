import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkPinned, place } from "../../core/fleet/placement.js";
import type { HostView } from "../../protocol/fleet.js";

const host = (name: string, freeMiB: number | null, state: "up" | "lost" = "up"): HostView => ({
  name,
  url: `http://${name}`,
  state,
  self: false,
  version: "1",
  memory: freeMiB === null ? null : { totalMiB: 1000, limitMiB: 1500, committedMiB: 1500 - freeMiB, freeMiB },
  guests: { total: 0, running: 0 },
  lastSeen: null,
  joinedAt: "2026-01-01T00:00:00Z",
});

describe("placement", () => {
  it("picks the up host with the most free memory that fits; ties by name", () => {
    assert.equal(place([host("a", 100), host("b", 900), host("c", 500)], 64), "b");
    assert.equal(place([host("b", 500), host("a", 500)], 64), "a");
    assert.equal(place([host("a", 100), host("b", 9000, "lost"), host("c", 50)], 64), "a", "a lost host is never picked");
  });

  it("no host with room: no_host_fits listing each host's free memory", () => {
    assert.throws(
      () => place([host("a", 10), host("b", 20)], 64),
      (e: { code?: string; details?: { hosts: unknown[] } }) => e.code === "no_host_fits" && e.details?.hosts.length === 2,
    );
  });

  it("a pinned host must exist and be up", () => {
    assert.equal(checkPinned([host("a", 10)], "a"), "a");
    assert.throws(
      () => checkPinned([host("a", 10)], "z"),
      (e: { code?: string }) => e.code === "host_not_found",
    );
    assert.throws(
      () => checkPinned([host("a", 10, "lost")], "a"),
      (e: { code?: string }) => e.code === "host_unreachable",
    );
  });
});
