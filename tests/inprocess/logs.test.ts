import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { InProcessDaemon } from "../harness/in-process.js";

type Line = { msg: string; level: number; instance?: string; tenant?: string | null; from?: string; to?: string; url?: string };

/** The daemon's log through umld's own logger, at trace: lifecycle lines bound to instance and tenant, and no token secret ever. */
describe("the daemon's log", () => {
  const raw: string[] = [];
  let d: InProcessDaemon;
  let acme: string;
  const lines = (): Line[] =>
    raw.flatMap((l) =>
      l
        .split("\n")
        .filter(Boolean)
        .map((x) => JSON.parse(x) as Line),
    );
  before(async () => {
    d = await InProcessDaemon.start({ log: raw, logLevel: "trace" });
    acme = await d.tenant("acme");
  });
  after(() => d.stop());

  it("has one state-change line per lifecycle event, bound to the instance and its tenant", async () => {
    assert.equal((await d.api("POST", "/v1/instances", { name: "web", memoryMiB: 64 }, { token: acme })).status, 201);
    assert.equal((await d.api("PUT", "/v1/instances/web/state", { action: "start" }, { token: acme })).status, 200);
    assert.equal((await d.api("PUT", "/v1/instances/web/state", { action: "halt" }, { token: acme })).status, 200);
    const changes = lines().filter((l) => l.msg === "state change" && l.instance === "acme.web");
    assert.ok(changes.length >= 3, "starting, running, stopped at least");
    assert.ok(
      changes.every((l) => l.tenant === "acme"),
      JSON.stringify(changes),
    );
    assert.deepEqual(changes.map((l) => l.to).slice(0, 1), ["starting"]);
    assert.equal(changes.at(-1)!.to, "stopped");
    for (let i = 1; i < changes.length; i++) assert.equal(changes[i]!.from, changes[i - 1]!.to, "one line per change, none missed");
  });

  it("never holds a token's secret, even where a client put one into a logged URL", async () => {
    const admin = d.token;
    const metrics = readFileSync(`${d.stateDir}/metrics.token`, "utf8").trim();
    const id = /^umld_([a-f0-9]{16})_/.exec(acme)![1]!;
    // clients paste tokens where they do not belong: a path (logged with every write) and bad bearer headers
    for (const token of [acme, admin, metrics]) await d.api("DELETE", `/v1/instances/${token}`);
    await d.api("POST", "/v1/instances", { name: "x" }, { token: `${acme.slice(0, -1)}0` });
    await d.api("POST", "/v1/instances", { name: acme }, { token: acme });
    const text = raw.join("");
    const logged = lines().filter((l) => l.msg === "api request" && l.url?.startsWith("/v1/instances/umld_"));
    assert.equal(logged.length, 3, "the requests were logged (so the check below is not vacuous)");
    assert.ok(
      logged.some((l) => l.url === `/v1/instances/umld_${id}_[redacted]`),
      "a tenant token keeps its id, which names it in the audit log",
    );
    for (const secret of [acme.slice(-64), admin.slice(-64), metrics.slice(-64)]) assert.ok(!text.includes(secret), "no secret in the log");
  });
});
