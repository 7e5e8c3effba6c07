import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { leaveNothingOf, REPO } from "../harness/daemon.js";
import { freePort } from "../harness/etcd.js";
import { TestFleet } from "../harness/fleet.js";

const run = promisify(execFile);
const UMLCTL = `${REPO}dist/cli/umlctl.js`;

const until = async <T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe("fleet membership: three umld hosts on one etcd", { timeout: 180_000 }, () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await TestFleet.start(["fa", "fb", "fc"], { leaseTtlS: 2 });
  });
  after(async () => fleet?.stop());

  it("every host lists the three hosts up, itself marked, with memory and guest figures", async () => {
    for (const h of fleet.hosts) {
      const r = await h.d.client().call("listHosts");
      assert.equal(r.fleet, true);
      assert.deepEqual(
        r.hosts.map((x) => [x.name, x.state, x.self, x.url]),
        fleet.hosts.map((x) => [x.name, "up", x.name === h.name, `http://127.0.0.1:${x.port}`]),
      );
      for (const x of r.hosts) {
        assert.ok(x.memory && x.memory.limitMiB > 0 && x.memory.freeMiB === x.memory.limitMiB - x.memory.committedMiB, JSON.stringify(x.memory));
        assert.deepEqual(x.guests, { total: 0, running: 0 });
      }
    }
  });

  it("umlctl host ls prints the hosts as a table", async () => {
    const a = fleet.host("fa");
    const { stdout } = await run(process.execPath, [UMLCTL, "--url", a.d.url, "--token", a.d.token, "host", "ls"]);
    assert.match(stdout, /^NAME\s+STATE/m);
    assert.match(stdout, /^fa\*\s+up\s+http:\/\/127\.0\.0\.1:/m);
    assert.match(stdout, /^fb\s+up/m);
  });

  it("a tenant token may not list hosts (admin only)", async () => {
    const a = fleet.host("fa").d;
    await a.client().call("createTenant", { body: { name: "acme" } });
    const tok = await a.client().call("createToken", { params: { tenant: "acme" }, body: { name: "t", actions: ["read"] } });
    const r = await a.api("GET", "/v1/hosts", undefined, { token: tok.token });
    assert.equal(r.status, 403);
  });

  it("an instance name taken on one host is refused on another (409 naming the host), and free again after its delete", async () => {
    const a = fleet.host("fa").d;
    const b = fleet.host("fb").d;
    await a.create("shared-name", 32);
    const taken = await b.api("POST", "/v1/instances", { name: "shared-name", memoryMiB: 32 });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error.code, "instance_exists");
    assert.equal(taken.body.error.details.host, "fa");
    const seen = await b.api("GET", "/v1/instances/shared-name");
    assert.equal(seen.body.host, "fa", "nothing was made on fb: its view is fa's");
    assert.equal((await a.api("DELETE", "/v1/instances/shared-name")).status, 200);
    assert.equal((await b.api("POST", "/v1/instances", { name: "shared-name", memoryMiB: 32 })).status, 201);
    assert.equal((await b.api("DELETE", "/v1/instances/shared-name")).status, 200);
  });

  it("a host killed with SIGKILL shows lost once its lease lapses, and up again when it restarts", async () => {
    const c = fleet.host("fc");
    await c.d.kill("SIGKILL");
    const a = fleet.host("fa").d;
    const lost = await until("fc lost", async () => (await a.client().call("listHosts")).hosts.find((h) => h.name === "fc" && h.state === "lost"));
    assert.equal(lost.memory, null);
    assert.equal(lost.lastSeen, null);
    const b = (await fleet.host("fb").d.client().call("listHosts")).hosts;
    assert.deepEqual(
      b.map((h) => [h.name, h.state]),
      [
        ["fa", "up"],
        ["fb", "up"],
        ["fc", "lost"],
      ],
    );
    await fleet.restart("fc");
    await until("fc up again", async () => (await a.client().call("listHosts")).hosts.find((h) => h.name === "fc" && h.state === "up"));
  });

  it("a host answers no request before it has joined the fleet (names, stale copies and revocations are the fleet's first)", async () => {
    const b = fleet.host("fb");
    const stateDir = mkdtempSync("/tmp/umld-t-fz-");
    const port = await freePort();
    const first = Number(b.guestIds.split("-")[0]) + 5000;
    const args = fleet.args({ name: "fz", port, guestIds: `${first}-${first + 4999}` });
    const etcdPid = fleet.etcd.proc.pid!;
    process.kill(etcdPid, "SIGSTOP"); // etcd hangs: the join waits for its timeouts
    const proc = spawn(process.execPath, [`${REPO}dist/daemon/main.js`, "--state-dir", stateDir, "--log-level", "info", ...args], { stdio: "ignore" });
    const answered: number[] = [];
    try {
      const end = Date.now() + 4000;
      while (Date.now() < end) {
        const token = existsSync(`${stateDir}/admin.token`) ? readFileSync(`${stateDir}/admin.token`, "utf8").trim() : "x";
        const r = await fetch(`http://127.0.0.1:${port}/v1/instances`, { headers: { authorization: `Bearer ${token}` } }).catch(() => null);
        if (r) answered.push(r.status);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      process.kill(etcdPid, "SIGCONT");
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
      leaveNothingOf(stateDir);
    }
    assert.deepEqual(answered, [], "requests served while the fleet was not joined");
  });

  it("a second machine under a host name that is up is refused at start", async () => {
    const b = fleet.host("fb");
    const { mkdtempSync } = await import("node:fs");
    const stateDir = mkdtempSync("/tmp/umld-t-dup-");
    try {
      const { TestDaemon } = await import("../harness/daemon.js");
      await assert.rejects(
        TestDaemon.start({ stateDir, logLevel: "info", args: fleet.args({ name: "fb", port: 0, guestIds: `${Number(b.guestIds.split("-")[0]) + 5000}-${Number(b.guestIds.split("-")[0]) + 9999}` }) }),
        /another machine is up in the fleet as 'fb'/,
      );
    } finally {
      leaveNothingOf(stateDir); // its cgroup parent and guest filter, made before it tried to join
    }
  });
});
