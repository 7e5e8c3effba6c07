import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestFleet } from "../harness/fleet.js";

const until = async <T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 60_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe("fleet cold migration: a guest's disk moves between hosts, a crash at any step leaves one owner", { timeout: 600_000 }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await TestFleet.start(["ma", "mb", "mc"], { leaseTtlS: 3 });
  });
  after(async () => fleet?.stop());
  const d = (n: string) => fleet.host(n).d;

  /** Boots `name` (wherever it is, through host `via`) and writes `data` to its disk. */
  async function writeData(via: string, owner: string, name: string, data: string): Promise<void> {
    assert.equal((await d(via).act(name, "start")).status, 200);
    const con = await d(owner).shell(name);
    await con.run(`echo ${data} > /root/data; sync`);
    con.close();
  }

  async function readData(owner: string, name: string): Promise<string> {
    const con = await d(owner).shell(name);
    const out = await con.run("cat /root/data");
    con.close();
    return out.trim();
  }

  /** Which hosts list `name` as their own (each host's own view through the fleet list). */
  async function holders(name: string): Promise<string[]> {
    const list = await d("ma").client().call("listInstances");
    return list.instances.filter((i) => i.name === name).map((i) => i.host!);
  }

  it("a running guest with data on its disk migrates from ma to mb (asked on mc) and runs there with its data", async () => {
    await d("ma")
      .client()
      .call("createInstance", { body: { name: "mig", memoryMiB: 64, host: "ma" } });
    await writeData("ma", "ma", "mig", "migrated-data-42");
    const r = await d("mc").api("POST", "/v1/instances/mig/migrate", { host: "mb" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const op = r.body.operation;
    assert.equal(op.status, "succeeded", JSON.stringify(op));
    assert.equal(op.result.from, "ma");
    assert.equal(op.result.to, "mb");
    assert.equal(op.result.started, true);
    assert.ok(op.result.bytes > 0);
    const v = await d("ma").get("mig");
    assert.equal(v.host, "mb");
    assert.equal(v.state, "running");
    assert.equal(await readData("mb", "mig"), "migrated-data-42");
    assert.deepEqual(await holders("mig"), ["mb"], "one owner");
    assert.equal((await d("mb").act("mig", "halt")).status, 200);
  });

  it("kill -9 of the source before the commit: it stays the owner with its data; the retry moves it", async () => {
    await d("mc")
      .client()
      .call("createInstance", { body: { name: "pre", memoryMiB: 64, host: "mc" } });
    await writeData("mc", "mc", "pre", "before-commit-7");
    await d("mc").kill("SIGKILL");
    await fleet.restart("mc", [], { UMLD_FLEET_TEST_STALL: "registered" });
    const started = await d("mc").api("POST", "/v1/instances/pre/migrate", { host: "ma", wait: false });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    // the target registered its copy (it has the instance locally) while the source holds at the step before the commit
    await until("ma's registered copy", async () => d("ma").logLines.some((l) => l.includes('"instance created"') && l.includes('"instance":"pre"')));
    assert.deepEqual(await holders("pre"), ["mc"], "the target's copy before the commit is not an owner");
    await d("mc").kill("SIGKILL");
    await fleet.restart("mc");
    assert.deepEqual(await holders("pre"), ["mc"], "the source owns it: the commit never happened");
    assert.equal((await d("ma").get("pre")).host, "mc");
    const retry = await d("mb").api("POST", "/v1/instances/pre/migrate", { host: "ma" });
    assert.equal(retry.body.operation?.status, "succeeded", JSON.stringify(retry.body));
    assert.deepEqual(await holders("pre"), ["ma"]);
    assert.equal((await d("ma").act("pre", "start")).status, 200);
    assert.equal(await readData("ma", "pre"), "before-commit-7");
    assert.equal((await d("ma").act("pre", "halt")).status, 200);
  });

  it("kill -9 of the source after the commit: the target owns it, the source's copy goes at its restart, the retry finishes", async () => {
    await d("mc")
      .client()
      .call("createInstance", { body: { name: "post", memoryMiB: 64, host: "mc" } });
    await writeData("mc", "mc", "post", "after-commit-9");
    await d("mc").kill("SIGKILL");
    await fleet.restart("mc", [], { UMLD_FLEET_TEST_STALL: "committed" });
    assert.equal((await d("mc").api("POST", "/v1/instances/post/migrate", { host: "mb", wait: false })).status, 202);
    await until("the commit", async () => (await d("ma").get("post")).host === "mb");
    await d("mc").kill("SIGKILL");
    await fleet.restart("mc");
    assert.deepEqual(await holders("post"), ["mb"], "one owner: the target");
    const mcOwn = await d("mc").api("GET", "/v1/instances/post");
    assert.equal(mcOwn.body.host, "mb", "mc forwards: its stale copy is gone");
    const retry = await d("ma").api("POST", "/v1/instances/post/migrate", { host: "mb" });
    assert.equal(retry.body.operation?.status, "succeeded", JSON.stringify(retry.body));
    assert.equal((await d("ma").act("post", "start")).status, 200);
    assert.equal(await readData("mb", "post"), "after-commit-9");
    assert.equal((await d("mb").act("post", "halt")).status, 200);
  });

  it("kill -9 of the target during a migration: the migration fails, the source still owns the data; the retry finishes", async () => {
    await d("mc")
      .client()
      .call("createInstance", { body: { name: "tgt", memoryMiB: 64, host: "mc" } });
    await writeData("mc", "mc", "tgt", "target-died-3");
    await d("mc").kill("SIGKILL");
    await fleet.restart("mc", [], { UMLD_FLEET_TEST_STALL: "copied" });
    const r = await d("mc").api("POST", "/v1/instances/tgt/migrate", { host: "mb", wait: false });
    assert.equal(r.status, 202);
    const opId = r.body.operation.id;
    // the files are on the target (staged) when the source reaches the step it holds at
    await until("the copy", async () => {
      const op = (await d("mc").api("GET", `/v1/operations/${opId}`)).body;
      return op.progress?.step === "copying" && op.progress.done === op.progress.total;
    });
    await d("mb").kill("SIGKILL");
    const failed = await until(
      "the migration to fail",
      async () => {
        const op = (await d("mc").api("GET", `/v1/operations/${opId}`)).body;
        return op.status === "failed" ? op : null;
      },
      120_000,
    );
    assert.equal(failed.error.code, "host_unreachable", JSON.stringify(failed.error));
    assert.deepEqual(await holders("tgt"), ["mc"], "the source owns it");
    await until("the guest running again on the source", async () => (await d("mc").get("tgt")).state === "running");
    await fleet.restart("mb");
    await d("mc").kill("SIGKILL");
    await fleet.restart("mc");
    const retry = await d("ma").api("POST", "/v1/instances/tgt/migrate", { host: "mb" });
    assert.equal(retry.body.operation?.status, "succeeded", JSON.stringify(retry.body));
    assert.deepEqual(await holders("tgt"), ["mb"]);
    assert.equal(retry.body.operation.result.started, true, "it ran on the source again, so it runs on the target");
    assert.equal(await readData("mb", "tgt"), "target-died-3");
    assert.equal((await d("mb").act("tgt", "halt")).status, 200);
  });

  it("while a migration copies, the source refuses to start, change or migrate the instance again (a write there would be lost at the commit)", async () => {
    await d("mc")
      .client()
      .call("createInstance", { body: { name: "busy", memoryMiB: 64, host: "mc" } });
    await d("mc").kill("SIGKILL");
    await fleet.restart("mc", [], { UMLD_FLEET_TEST_STALL: "copied" });
    const r = await d("mc").api("POST", "/v1/instances/busy/migrate", { host: "mb", wait: false });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const opId = r.body.operation.id;
    await until("the copy", async () => {
      const op = (await d("mc").api("GET", `/v1/operations/${opId}`)).body;
      return op.progress?.step === "copying" && op.progress.done === op.progress.total;
    });
    const start = await d("mc").act("busy", "start");
    assert.equal(start.status, 409, JSON.stringify(start.body));
    assert.equal(start.body.error.code, "instance_busy");
    const viaPeer = await d("ma").act("busy", "start");
    assert.equal(viaPeer.status, 409, "forwarded from another host, too");
    const again = await d("mc").api("POST", "/v1/instances/busy/migrate", { host: "ma" });
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.equal((await d("mc").get("busy")).state, "stopped");
    await d("mc").kill("SIGKILL");
    await fleet.restart("mc");
    // the migration died with the source before its commit: the instance is mc's, and usable again
    assert.deepEqual(await holders("busy"), ["mc"]);
    assert.equal((await d("mc").api("DELETE", "/v1/instances/busy")).status, 200);
  });

  it("host drain empties a host; migrate is for admins only and refused toward a lost or unknown host", async () => {
    await d("mc")
      .client()
      .call("createInstance", { body: { name: "dr-1", memoryMiB: 32, host: "mc" } });
    const r = await d("ma").api("POST", "/v1/hosts/mc/drain", {});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.operation.status, "succeeded");
    assert.deepEqual(r.body.operation.result.failed, []);
    const list = await d("ma").client().call("listInstances");
    assert.ok(!list.instances.some((i) => i.host === "mc"), JSON.stringify(list.instances.map((i) => [i.name, i.host])));
    assert.equal((await d("ma").api("POST", "/v1/instances/dr-1/migrate", { host: "zz" })).body.error.code, "host_not_found");
    await d("ma")
      .client()
      .call("createTenant", { body: { name: "acme" } });
    const tok = await d("ma")
      .client()
      .call("createToken", { params: { tenant: "acme" }, body: { name: "k", actions: ["read", "create", "delete", "power"] } });
    assert.equal((await d("ma").api("POST", "/v1/instances/x/migrate", { host: "mb" }, { token: tok.token })).status, 403);
  });
});
