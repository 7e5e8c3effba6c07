import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { describe, it } from "node:test";
import { UmldError } from "../../core/errors.js";
import { SupervisorHost } from "../../core/supervisor/host.js";
import type { Args, ConsoleSnapshot, FromWorker, Reply } from "../../core/supervisor/rpc.js";

const RPC_WORKER = fileURLToPath(new URL("../fakes/rpc-worker.js", import.meta.url));

// compile-time: a request's reply type follows from its kind (tsc fails the build otherwise)
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const typed: [Equal<Reply<"mconsole">, string>, Equal<Reply<"console-in">, boolean>, Equal<Reply<"scrollback">, ConsoleSnapshot>, Equal<Args<"channel-in">, { channel: string; data: Uint8Array }>] = [
  true,
  true,
  true,
  true,
];

describe("the typed protocol between the main thread and a supervisor worker", () => {
  it("pairs each request with its reply type, refusing wrong arguments at compile time", async () => {
    assert.deepEqual(typed, [true, true, true, true]);
    const host = new SupervisorHost(new Worker(RPC_WORKER));
    // @ts-expect-error: mconsole takes a command, not a channel
    const wrongArgs = () => host.call("mconsole", { channel: "ssl0" });
    // @ts-expect-error: its reply is a string, not a boolean
    const wrongReply = (): Promise<boolean> => host.call("mconsole", { command: "version", timeoutMs: 1 });
    assert.equal(typeof wrongArgs, "function");
    assert.equal(typeof wrongReply, "function");
    await host.terminate();
  });

  it("answers calls by id with their typed values, carries failures as UmldErrors and facts as messages", async () => {
    const host = new SupervisorHost(new Worker(RPC_WORKER));
    await host.idle;
    const facts: FromWorker[] = [];
    host.on("message", (m) => facts.push(m));
    const [a, b] = await Promise.all([host.mconsole("version"), host.call("mconsole", { command: "proc meminfo", timeoutMs: 100 })]);
    assert.equal(a, "echo:version");
    assert.equal(b, "echo:proc meminfo");
    assert.deepEqual(await host.action("shutdown", 1000), { graceful: true });
    const snap = await host.scrollback();
    assert.equal(Buffer.from(snap.data).toString(), "scrolled");
    assert.equal(snap.end, 108);

    const input = Buffer.from("abcdef");
    assert.equal(await host.consoleInput(input), false);
    assert.equal(input.toString(), "abcdef", "the caller's buffer is copied, not transferred away");
    assert.equal(await host.consoleInput(Buffer.from("ok")), true);

    await assert.rejects(host.closeChannel("ssl1"), (e: unknown) => e instanceof UmldError && e.code === "mconsole_error" && e.message === "ssl1 is busy");

    host.setWatchdog(5000);
    for (let i = 0; i < 100 && facts.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(facts, [{ t: "log", level: "info", msg: "notice watchdog" }], "facts only: no reply, no idle");
    await host.terminate();
  });

  it("fails pending calls when the worker goes, and says it is gone", async () => {
    const host = new SupervisorHost(new Worker(RPC_WORKER));
    await host.idle;
    const gone = new Promise<{ code: number }>((r) => host.once("gone", r));
    const pending = host.call("detach", {});
    await assert.rejects(pending, (e: unknown) => e instanceof UmldError && e.code === "host_error" && /supervisor worker exited/.test(e.message));
    assert.equal((await gone).code, 0);
    assert.equal(host.isAlive, false);
    await assert.rejects(host.mconsole("version"), (e: unknown) => e instanceof UmldError && /gone/.test(e.message));
  });
});
