import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import type { Principal } from "../../core/tenants/principal.js";
import type { RightsEnded } from "../../core/tenants/tenants.js";
import { keepAlive } from "../../daemon/ws/keep-alive.js";
import { RIGHTS_ENDED, Sessions } from "../../daemon/ws/sessions.js";

class FakeSocket extends EventEmitter {
  closed: [number, string] | null = null;
  terminated = false;
  pings = 0;
  close(code: number, reason: string): void {
    this.closed = [code, reason];
  }
  terminate(): void {
    this.terminated = true;
    this.emit("close");
  }
  ping(): void {
    this.pings++;
  }
}

const tenant = (tenant: string, tokenId: string, expiresAt: number | null = null): Principal => ({ kind: "tenant", label: `${tenant}:t`, tokenId, tenant, actions: new Set(), expiresAt });
const admin = (actingFor: string | null = null): Principal => ({ kind: "admin", label: "admin", tokenId: null, tenant: actingFor, actions: null });

function setup(limits = { perToken: 3, viewersPerInstance: 2 }) {
  let notify!: (e: RightsEnded) => void;
  const sessions = new Sessions(limits, {
    onRightsEnded: (l) => {
      notify = l;
      return () => {};
    },
  });
  const open = (p: Principal, kind: "events" | "console" = "events", instance: string | null = null, local = false) => {
    const ws = new FakeSocket();
    const s = sessions.open(ws, p, local, kind, instance);
    let cleaned = 0;
    s.onEnd(() => cleaned++);
    return { ws, s, cleaned: () => cleaned };
  };
  return { sessions, open, notify: (e: RightsEnded) => notify(e) };
}

describe("websocket sessions", () => {
  it("a revoked token's sessions end at once with 4401; other tokens' stay", () => {
    const { sessions, open, notify } = setup();
    const a1 = open(tenant("acme", "t1"));
    const a2 = open(tenant("acme", "t1"), "console", "acme.web");
    const b = open(tenant("acme", "t2"));
    notify({ kind: "token-revoked", tokenId: "t1" });
    assert.deepEqual(a1.ws.closed, [RIGHTS_ENDED, "token revoked"]);
    assert.deepEqual(a2.ws.closed, [RIGHTS_ENDED, "token revoked"]);
    assert.equal(a1.cleaned() + a2.cleaned(), 2, "their console and bus subscriptions are released at once, not after the close handshake");
    assert.equal(b.ws.closed, null);
    assert.equal(sessions.size, 1);
  });

  it("a deleted tenant's sessions end; an admin acting for it (Umld-Tenant) keeps its own", () => {
    const { open, notify } = setup();
    const t = open(tenant("gone", "t9"));
    const acting = open(admin("gone"));
    const other = open(tenant("gonex", "t8"));
    notify({ kind: "tenant-deleted", tenant: "gone" });
    assert.deepEqual(t.ws.closed, [RIGHTS_ENDED, "tenant deleted"]);
    assert.equal(acting.ws.closed, null);
    assert.equal(other.ws.closed, null);
  });

  it("a token's sessions end when it expires", async () => {
    const { open } = setup();
    const soon = open(tenant("acme", "t1", Date.now() + 50));
    const later = open(tenant("acme", "t2", Date.now() + 60_000));
    const past = open(tenant("acme", "t3", Date.now() - 1));
    await new Promise((r) => setTimeout(r, 120));
    assert.deepEqual(soon.ws.closed, [RIGHTS_ENDED, "token expired"]);
    assert.deepEqual(past.ws.closed, [RIGHTS_ENDED, "token expired"]);
    assert.equal(later.ws.closed, null);
    later.s.end(1000, "bye"); // clears its timer
  });

  it("a peer that does not answer the close frame is cut off", async () => {
    const { open, notify } = setup();
    const a = open(tenant("acme", "t1"));
    notify({ kind: "token-revoked", tokenId: "t1" });
    assert.equal(a.ws.terminated, false);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(a.ws.terminated, true);
  });

  it("caps open sockets per token and tenant console viewers per instance; local and admin viewers are not refused", () => {
    const { sessions, open } = setup();
    const p = tenant("acme", "t1");
    for (let i = 0; i < 3; i++) {
      sessions.admit(p, false, "events", null);
      open(p);
    }
    assert.throws(
      () => sessions.admit(p, false, "events", null),
      (e: any) => e.code === "too_many_websockets" && e.details.per === "token" && e.details.limit === 3,
    );
    assert.doesNotThrow(() => sessions.admit(tenant("acme", "t2"), false, "events", null), "another token has its own budget");
    assert.doesNotThrow(() => sessions.admit(admin(), true, "events", null), "the local socket is not limited");
    const v1 = open(tenant("acme", "t2"), "console", "acme.web");
    open(tenant("acme", "t3"), "console", "acme.web");
    assert.throws(
      () => sessions.admit(tenant("acme", "t4"), false, "console", "acme.web"),
      (e: any) => e.code === "too_many_websockets" && e.details.per === "instance",
    );
    assert.doesNotThrow(() => sessions.admit(tenant("acme", "t4"), false, "console", "acme.other"));
    assert.doesNotThrow(() => sessions.admit(admin("acme"), false, "console", "acme.web"), "tenants cannot lock the admin out of a console");
    v1.ws.emit("close"); // the peer left: its slot is free again
    assert.doesNotThrow(() => sessions.admit(tenant("acme", "t4"), false, "console", "acme.web"));
  });

  it("keepAlive: traffic keeps a connection open, silence closes it, a dead peer is terminated", async () => {
    const busy = new FakeSocket();
    const quiet = new FakeSocket();
    const b = keepAlive(busy, 80, 20);
    keepAlive(quiet, 80, 20);
    const answer = setInterval(() => {
      b.touch();
      busy.emit("pong");
      quiet.emit("pong");
    }, 10);
    await new Promise((r) => setTimeout(r, 200));
    clearInterval(answer);
    assert.equal(busy.closed, null, "touched: still open");
    assert.deepEqual(quiet.closed, [1001, "idle"], "answered pings but no traffic: idle");
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(busy.terminated, true, "pings unanswered: terminated");
  });
});
