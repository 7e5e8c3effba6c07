import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { openDb } from "../../core/store/db.js";
import { InstancesRepo } from "../../core/store/instances-repo.js";
import { OperationsRepo } from "../../core/store/operations-repo.js";
import { Retention } from "../../core/store/retention.js";
import { TenantsRepo } from "../../core/store/tenants-repo.js";
import { parseConfig } from "../../daemon/config.js";

const DAY = 86_400_000;

describe("retention of history tables", () => {
  const dir = mkdtempSync(join(tmpdir(), "umld-ret-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("prunes audit rows, state history and finished operations past the age or the row cap; running operations stay", async () => {
    const db = openDb(join(dir, "umld.db"));
    const now = Date.parse("2030-06-01T00:00:00Z");
    const at = (daysAgo: number) => new Date(now - daysAgo * DAY).toISOString();
    const audit = new TenantsRepo(db);
    const history = new InstancesRepo(db);
    const ops = new OperationsRepo(db);
    const insertHistory = db.prepare("INSERT INTO state_history (instance_id, from_state, to_state, reason, at) VALUES ('i', 'stopped', 'starting', 'test', ?)");
    // 3000 old rows (200..101 days ago), then 50 recent ones
    for (let i = 0; i < 3050; i++) {
      const daysAgo = i < 3000 ? 200 - i / 30 : 5;
      audit.audit({ at: at(daysAgo), principal: "anonymous", tenant: null, action: "x", object: null, status: 401, outcome: "unauthorized", remote: null, count: 1 });
      insertHistory.run(at(daysAgo));
      ops.insert({
        id: `op-${i}`,
        kind: "boot",
        target: "i",
        status: i === 7 ? "running" : "succeeded",
        error: null,
        result: null,
        created_at: at(daysAgo),
        finished_at: i === 7 ? null : at(daysAgo),
      });
    }
    const count = (t: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
    const r = new Retention(
      {
        audit: (b, k, n) => audit.pruneAudit(b, k, n),
        stateHistory: (b, k, n) => history.pruneHistory(b, k, n),
        operations: (b, k, n) => ops.prune(b, k, n),
      },
      { days: 90, maxRows: 1_000_000 },
    );
    assert.deepEqual(await r.runOnce(now), { audit: 3000, stateHistory: 3000, operations: 2999 });
    assert.deepEqual([count("audit"), count("state_history"), count("operations")], [50, 50, 51]);
    assert.equal(ops.byId("op-7")?.status, "running", "a running operation is never pruned");
    // the row cap: the newest 20 stay
    const capped = new Retention({ audit: (b, k, n) => audit.pruneAudit(b, k, n), operations: (b, k, n) => ops.prune(b, k, n) }, { days: 90, maxRows: 20 });
    await capped.runOnce(now);
    assert.equal(count("audit"), 20);
    assert.equal(count("operations"), 21, "20 plus the running one");
    const newest = db.prepare("SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM audit").get() as { lo: number; hi: number };
    assert.equal(newest.hi - newest.lo, 19, "the newest rows are the ones kept");
    assert.deepEqual(await capped.runOnce(now), { audit: 0, operations: 0 }, "nothing left to prune");
    db.close();
  });

  it("the daemon flags for sessions and retention parse, with defaults, and refuse nonsense", () => {
    const dflt = parseConfig([], {});
    assert.ok(dflt !== "help");
    assert.deepEqual(
      [dflt.sessions, dflt.retention],
      [
        { perToken: 32, viewersPerInstance: 16 },
        { days: 90, maxRows: 500_000 },
      ],
    );
    const set = parseConfig(["--max-websockets-per-token", "4", "--max-console-viewers", "2", "--retention-days", "7", "--retention-rows", "1000"], {});
    assert.ok(set !== "help");
    assert.deepEqual(
      [set.sessions, set.retention],
      [
        { perToken: 4, viewersPerInstance: 2 },
        { days: 7, maxRows: 1000 },
      ],
    );
    for (const bad of [
      ["--max-websockets-per-token", "0"],
      ["--max-console-viewers", "x"],
      ["--retention-days", "1.5"],
      ["--retention-rows", "-1"],
    ]) {
      assert.throws(() => parseConfig(bad, {}), new RegExp(bad[0]!));
    }
  });
});
