import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FleetAuthError, forwardedOf, PeerAuth } from "../../core/fleet/peer-auth.js";

const secret = Buffer.alloc(32, 9);
const admin = forwardedOf({ kind: "admin", label: "admin", tokenId: null, tenant: null, actions: null });

describe("fleet peer signatures", () => {
  it("a header is accepted once, and not again by the same host started anew (its seen nonces were in memory)", async () => {
    const b = new PeerAuth(secret, "hb");
    const header = new PeerAuth(secret, "ha").sign("hb", "DELETE", "/v1/instances/web", null, admin);
    assert.equal(b.verify(header, "DELETE", "/v1/instances/web").from, "ha");
    assert.throws(() => b.verify(header, "DELETE", "/v1/instances/web"), FleetAuthError);
    await new Promise((r) => setTimeout(r, 5));
    const restarted = new PeerAuth(secret, "hb");
    assert.throws(() => restarted.verify(header, "DELETE", "/v1/instances/web"), FleetAuthError);
  });

  it("a fresh header verifies on a host started before it was signed", () => {
    const b = new PeerAuth(secret, "hb");
    const header = new PeerAuth(secret, "ha").sign("hb", "GET", "/v1/instances", null, admin);
    assert.equal(b.verify(header, "GET", "/v1/instances").to, "hb");
  });
});
