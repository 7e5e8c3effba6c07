import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UmldError } from "../../core/errors.js";
import { BootQueue } from "../../core/instances/boot-queue.js";

describe("the boot queue", () => {
  it("lets at most `limit` boot at once, the rest in arrival order, never more when a slot is handed over", async () => {
    const q = new BootQueue(2);
    const order: string[] = [];
    let inside = 0;
    let most = 0;
    const queued: string[] = [];
    const boot = async (id: string) => {
      const leave = await q.enter(id, `op-${id}`, () => queued.push(id));
      inside++;
      most = Math.max(most, inside);
      order.push(id);
      await new Promise((r) => setImmediate(r));
      inside--;
      leave();
      leave(); // idempotent
    };
    const all = ["a", "b", "c", "d", "e"].map(boot);
    assert.deepEqual(q.stats(), { limit: 2, booting: 2, queued: 3 });
    const late = boot("f"); // arrives while a slot is being handed over: waits its turn
    await Promise.all([...all, late]);
    assert.deepEqual(order, ["a", "b", "c", "d", "e", "f"]);
    assert.equal(most, 2);
    assert.deepEqual(queued, ["c", "d", "e", "f"]);
    assert.deepEqual(q.stats(), { limit: 2, booting: 0, queued: 0 });
  });

  it("a cancelled start leaves the queue with the error given; the others keep their turn", async () => {
    const q = new BootQueue(1);
    const first = await q.enter("a", "op-a", () => {});
    const b = q.enter("b", "op-b", () => {});
    const c = q.enter("c", "op-c", () => {});
    assert.equal(q.queuedOperation("b"), "op-b");
    assert.equal(q.cancel("b", new UmldError("operation_cancelled", "stopped")), "op-b");
    assert.equal(q.cancel("b", new UmldError("operation_cancelled", "stopped")), null);
    await assert.rejects(b, (e: UmldError) => e.code === "operation_cancelled");
    first();
    (await c)();
    assert.deepEqual(q.stats(), { limit: 1, booting: 0, queued: 0 });
  });
});
