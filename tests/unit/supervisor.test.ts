import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, it } from "node:test";
import { processesWithUmid } from "../../core/host/procfs.js";
import { native } from "../../core/native.js";
import type { FromWorker, WorkerBootSpec } from "../../core/supervisor/rpc.js";
import { Supervisor } from "../../core/supervisor/supervisor.js";

const FAKE_UML = fileURLToPath(new URL("../fakes/fake-uml.js", import.meta.url));

/** A Supervisor of a fake UML process (tests/fakes/fake-uml.ts), its facts collected. */
class Rig {
  readonly umid = randomBytes(8).toString("hex");
  readonly dir = mkdtempSync("/tmp/umld-sv-");
  readonly facts: FromWorker[] = [];
  readonly spec: WorkerBootSpec;
  readonly sv: Supervisor;
  done = false;
  private wake: Array<() => void> = [];

  constructor(env: Record<string, string> = {}) {
    const d = this.dir;
    const files = {
      dir: d,
      sockDir: d,
      notifySocket: `${d}/notify.sock`,
      mconsoleClient: `${d}/mconsole-client.sock`,
      consoleIn: `${d}/console.in`,
      consoleOut: `${d}/console.out`,
      consoleLog: `${d}/console.log`,
      stderrLog: `${d}/uml.stderr.log`,
    };
    native.mkfifo(files.consoleIn, 0o600);
    native.mkfifo(files.consoleOut, 0o600);
    this.spec = {
      instanceId: this.umid,
      command: process.execPath,
      args: [FAKE_UML, `umid=${this.umid}`, `uml_dir=${d}/run/`, `mconsole=notify:${files.notifySocket}`],
      env: { PATH: "/usr/bin:/bin", FAKE_UML_CLIENT: files.mconsoleClient, ...env },
      files,
      mconsoleInJail: `${d}/run/${this.umid}/mconsole`,
      cgroup: null,
      launcher: "/bin/false",
      jailHolds: [],
      hangTimeoutMs: 0,
      scrollbackBytes: 64 * 1024,
      consoleLogMaxBytes: 1024 * 1024,
      guest: { uid: process.getuid!(), gid: process.getgid!() },
    };
    this.sv = new Supervisor(this.spec, {
      post: (f) => {
        this.facts.push(f);
        for (const w of this.wake.splice(0)) w();
      },
      done: () => {
        this.done = true;
      },
    });
  }

  /** The first fact of kind `t` at or after index `from`. */
  async fact<T extends FromWorker["t"]>(t: T, from = 0, timeoutMs = 10_000): Promise<Extract<FromWorker, { t: T }>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const f = this.facts.slice(from).find((x): x is Extract<FromWorker, { t: T }> => x.t === t);
      if (f) return f;
      if (Date.now() > until)
        throw new Error(
          `no '${t}' fact in ${timeoutMs} ms; got ${this.facts
            .slice(from)
            .filter((x) => x.t !== "console")
            .map((x) => JSON.stringify(x))
            .join("\n")}`,
        );
      await new Promise<void>((r) => {
        this.wake.push(r);
        setTimeout(r, 100);
      });
    }
  }

  kinds(from = 0): string[] {
    return this.facts
      .slice(from)
      .map((f) => f.t)
      .filter((t) => t !== "console" && t !== "log");
  }

  console(): string {
    return Buffer.from(this.sv.console.snapshot().data).toString("latin1");
  }

  /** Typed into the guest's console. */
  type(text: string): void {
    assert.equal(this.sv.console.input(Buffer.from(text)), true);
  }

  cleanup(): void {
    this.sv.close();
    for (const p of processesWithUmid(this.umid, null)) process.kill(p, "SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("the Supervisor against a fake UML process", { timeout: 60_000 }, () => {
  let rig: Rig | null = null;
  afterEach(() => {
    rig?.cleanup();
    rig = null;
  });

  it("boots (spawned, booted, ready), carries the console both ways, asks mconsole; a halt ends it stopped", async () => {
    const r = (rig = new Rig());
    await r.sv.boot(null);
    const spawned = await r.fact("spawned");
    assert.ok(spawned.pid > 1);
    await r.fact("booted");
    assert.equal((await r.fact("ready")).via, "notify");
    assert.equal(await r.sv.mconsoleCommand("version", 2000), "fake-uml 6.1.0");
    r.type("echo hello-42\n");
    await waitFor(() => r.console().includes("hello-42\r\nfake:/# "));
    assert.match(readFileSync(r.spec.files.consoleLog, "latin1"), /Linux version 6\.1\.0-fake/);
    const at = r.facts.length;
    assert.deepEqual(await r.sv.action("halt", 5000), {});
    const exited = await r.fact("exited", at);
    assert.deepEqual({ ...exited }, { t: "exited", code: 0, signal: null, reason: "halted", requested: true, cpuNs: null }); // no cgroup here: no CPU figure
    await waitFor(() => r.done);
    assert.deepEqual(processesWithUmid(r.umid, null), [], "nothing of the guest is left");
  });

  it("an API reboot is a new process: rebooting, the main thread's spec, respawned with a new pid, booted and ready again", async () => {
    const r = (rig = new Rig());
    await r.sv.boot(null);
    const first = await r.fact("spawned");
    await r.fact("ready");
    const at = r.facts.length;
    assert.deepEqual(await r.sv.action("reboot", 5000), {});
    assert.equal((await r.fact("rebooting", at)).reason, "reboot requested");
    r.sv.respawn(r.spec);
    const again = await r.fact("respawned", at);
    assert.notEqual(again.pid, first.pid);
    await r.fact("ready", at);
    assert.deepEqual(r.kinds(at), ["rebooting", "respawned", "booted", "ready"], "no exited: the guest goes on");
    assert.deepEqual(processesWithUmid(r.umid, null), [again.pid], "the old process is gone");
    assert.equal(await r.sv.mconsoleCommand("version", 2000), "fake-uml 6.1.0", "mconsole reaches the new kernel");
    const text = r.console();
    assert.ok(text.indexOf("reboot: Restarting system") < text.lastIndexOf("Linux version"), "one console across both boots");
  });

  it("a reboot from inside the guest is one too; a poweroff from inside is stopped", async () => {
    const r = (rig = new Rig());
    await r.sv.boot(null);
    await r.fact("ready");
    let at = r.facts.length;
    r.type("reboot\n");
    assert.equal((await r.fact("rebooting", at)).reason, "guest rebooted");
    r.sv.respawn(r.spec);
    await r.fact("ready", at);
    at = r.facts.length;
    r.type("poweroff\n");
    const exited = await r.fact("exited", at);
    assert.equal(exited.reason, "guest powered off");
    assert.equal(exited.requested, true);
    assert.deepEqual(r.kinds(at), ["exited"]);
  });

  it("a stop asked for while a reboot waits for its spec wins; a reboot without a spec ends crashed, saying why", async () => {
    const r = (rig = new Rig());
    await r.sv.boot(null);
    await r.fact("ready");
    let at = r.facts.length;
    r.type("reboot\n");
    await r.fact("rebooting", at);
    await r.sv.action("halt", 5000); // nothing left to stop: it returns at once
    r.sv.respawn(r.spec);
    const halted = await r.fact("exited", at);
    assert.equal(halted.reason, "halted");
    assert.equal(halted.requested, true);
    assert.deepEqual(r.kinds(at), ["rebooting", "exited"], "no new process");

    r.cleanup();
    const r2 = (rig = new Rig());
    await r2.sv.boot(null);
    await r2.fact("ready");
    at = r2.facts.length;
    r2.type("reboot\n");
    await r2.fact("rebooting", at);
    r2.sv.respawn("the instance is gone");
    const crashed = await r2.fact("exited", at);
    assert.equal(crashed.reason, "guest rebooted, but the guest could not be started again: the instance is gone");
    assert.equal(crashed.requested, false);
  });

  it("a shutdown ends a guest whose ctrl-alt-del powers it off; one that cannot be spawned is a host_error", async () => {
    const r = (rig = new Rig({ FAKE_UML_NO_READY: "1" }));
    await r.sv.boot(null);
    await r.fact("booted");
    assert.deepEqual(await r.sv.action("shutdown", 5000), { graceful: true });
    assert.equal((await r.fact("exited")).reason, "shut down");
    assert.ok(!r.facts.some((f) => f.t === "ready"), "no readiness was signalled");

    r.cleanup();
    const bad = (rig = new Rig());
    bad.spec.command = "/nonexistent/linux";
    await assert.rejects(bad.sv.boot(null), (e: Error & { code?: string }) => e.code === "host_error" && /cannot start UML/.test(e.message));
  });
});

async function waitFor(ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
