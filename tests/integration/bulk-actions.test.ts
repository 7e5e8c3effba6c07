import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { REPO, TestDaemon } from "../harness/daemon.js";

const run = promisify(execFile);
const UMLCTL = `${REPO}dist/cli/umlctl.js`;

describe("bulk actions with real UML guests", { timeout: 240_000 }, () => {
  let d: TestDaemon;
  const names = ["bulk-1", "bulk-2", "bulk-3"];
  before(async () => {
    d = await TestDaemon.start({ args: ["--boot-concurrency", "2"] });
    for (const n of names) await d.create(n);
  });
  after(async () => {
    await d?.stop();
  });

  it("starts three guests in one request (two boot at once, the third queued), then umlctl action stop shuts them all down", async () => {
    const ev0 = d.events.length;
    const r = await d.api("POST", "/v1/instances/actions", { action: "start", names });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.results.map((x: { name: string; ok: boolean }) => [x.name, x.ok]),
      names.map((n) => [n, true]),
    );
    for (const n of names) await d.waitEvent((e) => e.type === "instance.ready" && e.instance === n, 90_000, ev0);
    const queued = d.events.slice(ev0).filter((e) => e.type === "operation" && e.operation.progress?.step === "queued");
    assert.deepEqual(
      queued.map((e) => e.type === "operation" && e.operation.target),
      ["bulk-3"],
      "the third start waited for a boot slot",
    );
    for (const n of names) {
      const v = await d.get(n);
      assert.deepEqual([v.state, v.ready, v.busy], ["running", true, null], n);
    }
    const ops = await Promise.all(r.body.results.map((x: { operation: { id: string } }) => d.api("GET", `/v1/operations/${x.operation.id}`)));
    assert.deepEqual(
      ops.map((o) => o.body.status),
      ["succeeded", "succeeded", "succeeded"],
    );

    const out = await run(process.execPath, [UMLCTL, "--state-dir", d.stateDir, "action", "stop", "--all", "--format", "json"], { timeout: 120_000 });
    const answer = JSON.parse(out.stdout) as { results: Array<{ name: string; ok: boolean; operation: { status: string } }> };
    assert.deepEqual(
      answer.results.map((x) => [x.name, x.ok, x.operation.status]),
      names.map((n) => [n, true, "succeeded"]),
      "waited for every shutdown",
    );
    for (const n of names) {
      const v = await d.get(n);
      assert.deepEqual([v.state, v.pid], ["stopped", null], n);
      assert.match(v.lastExit?.reason ?? "", /./);
    }
  });
});
