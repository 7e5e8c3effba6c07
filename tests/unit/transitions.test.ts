import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACTIONS_IN_STATE, INSTANCE_ACTIONS, INSTANCE_STATES } from "../../protocol/instances.js";
import { UmldError } from "../../core/errors.js";
import { canTransition, isActive, LIFECYCLE_EVENTS, transition, TRANSITIONS, type LifecycleEvent } from "../../core/lifecycle/transitions.js";

/** The lifecycle as the product promises it, written out independently of the table. */
const EXPECTED: Record<string, string> = {
  "stopped start": "starting",
  "crashed start": "starting",
  "starting booted": "running",
  "starting shutdown": "stopping",
  "starting halt": "stopping",
  "starting exited": "stopped",
  "starting crashed": "crashed",
  "running shutdown": "stopping",
  "running halt": "stopping",
  "running reboot": "starting",
  "running pause": "paused",
  "running guest_reboot": "running",
  "running exited": "stopped",
  "running crashed": "crashed",
  "paused resume": "running",
  "paused shutdown": "stopping",
  "paused halt": "stopping",
  "paused reboot": "starting",
  "paused exited": "stopped",
  "paused crashed": "crashed",
  "stopping halt": "stopping",
  "stopping exited": "stopped",
  "stopping crashed": "crashed",
  "stopping guest_reboot": "stopping",
};

describe("lifecycle transition table", () => {
  it("walks every state × event pair: allowed ones land where expected, the rest throw invalid_state naming both", () => {
    let allowed = 0;
    for (const from of INSTANCE_STATES) {
      for (const event of LIFECYCLE_EVENTS) {
        const want = EXPECTED[`${from} ${event}`];
        if (want) {
          allowed++;
          assert.equal(transition(from, event), want, `${from} × ${event}`);
          assert.ok(canTransition(from, event));
        } else {
          assert.ok(!canTransition(from, event), `${from} × ${event} must not be allowed`);
          assert.throws(
            () => transition(from, event),
            (e: unknown) => {
              assert.ok(e instanceof UmldError);
              assert.equal(e.code, "invalid_state");
              assert.deepEqual(e.details, { state: from, action: event });
              assert.ok(e.message.includes(from) && e.message.includes(event));
              return true;
            },
          );
        }
      }
    }
    assert.equal(allowed, Object.keys(EXPECTED).length);
  });

  it("every API action but the composite upgrade is a lifecycle event, and every table target is a state", () => {
    // upgrade is carried out as shutdown (when running) + start on the new kernel, each through the table
    for (const a of INSTANCE_ACTIONS.filter((x) => x !== "upgrade")) assert.ok((LIFECYCLE_EVENTS as readonly string[]).includes(a));
    assert.ok(!(LIFECYCLE_EVENTS as readonly string[]).includes("upgrade"));
    for (const row of Object.values(TRANSITIONS)) for (const to of Object.values(row)) assert.ok(INSTANCE_STATES.includes(to!));
  });

  it("stopped and crashed are the only states without a guest process", () => {
    assert.deepEqual(
      INSTANCE_STATES.filter((s) => !isActive(s)),
      ["stopped", "crashed"],
    );
  });

  it("a stopped or crashed guest can be started, and every active state can be halted or crash", () => {
    for (const s of INSTANCE_STATES) {
      if (isActive(s)) {
        assert.ok(canTransition(s, "halt") && canTransition(s, "crashed") && canTransition(s, "exited"), s);
        assert.ok(!canTransition(s, "start"), s);
      } else {
        assert.ok(canTransition(s, "start"), s);
      }
    }
  });

  it("the actions protocol/ offers per state (the dashboard's buttons) are exactly the table's", () => {
    for (const state of INSTANCE_STATES) {
      const table = INSTANCE_ACTIONS.filter((a) => a !== "upgrade" && canTransition(state, a as LifecycleEvent));
      assert.deepEqual([...ACTIONS_IN_STATE[state]].sort(), [...table].sort(), state);
    }
  });
});
