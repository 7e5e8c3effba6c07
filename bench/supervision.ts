/**
 * What one supervisor per guest costs, for each way of building it, in one run:
 * a fresh Node process per option starts N units, and the bench reads its RSS
 * growth per unit and its CPU while the units idle. Options:
 *   bare      a Worker running an echo loop, default limits
 *   limits    the same with tight resourceLimits (young generation 1 MiB, old 8 MiB, stack 1 MiB (256 KiB overflows loading a module))
 *   flags     tight resourceLimits and process-wide V8 flags (--max-semi-space-size=1 --single-threaded-gc --max-lazy)
 *   umld      umld's own supervisor thread (core/supervisor/worker.js, its limits), idle in the pool
 *   umld-young umld's thread with a 1 MiB young generation; umld-arena: with MALLOC_ARENA_MAX=2
 *   umld-trim the same with the tight limits, the V8 flags, and MALLOC_ARENA_MAX=2 (glibc gives every thread
 *             that mallocs its own arena, and keeps what it freed there)
 *   native    a native thread per guest (the io_pump of branch `scale`, cf1a8c2) pumping a console pipe and a
 *             datagram socket, events posted to the main thread; needs that addon: --pump-addon PATH
 * Each unit also gets one line of traffic per second (a console line, a datagram), as an idle guest's clock does.
 *
 *   node dist/bench/supervision.js [--units 50,100] [--idle-s 20] [--only bare,umld,...] [--pump-addon /path/uds_dgram.node]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";

const { values } = parseArgs({
  options: {
    units: { type: "string", default: "50,100" },
    "idle-s": { type: "string", default: "20" },
    "pump-addon": { type: "string" },
    only: { type: "string" },
    child: { type: "string" },
    n: { type: "string" },
  },
});
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ECHO = `const { parentPort } = require("node:worker_threads"); parentPort.on("message", (m) => parentPort.postMessage(m)); parentPort.postMessage("idle");`;
const UMLD_WORKER = new URL("../core/supervisor/worker.js", import.meta.url);
const UMLD_LIMITS = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4, stackSizeMb: 1 };
const TIGHT = { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 };
const FLAGS = ["--max-semi-space-size=1", "--single-threaded-gc", "--max-lazy"];

type Kind = "bare" | "limits" | "flags" | "umld" | "umld-young" | "umld-arena" | "umld-trim" | "native";

/** In the child: start n units, report "ready", then idle with a little traffic each second until killed. */
async function child(kind: Kind, n: number): Promise<void> {
  const tick: Array<() => void> = [];
  if (kind === "native") {
    const addon = createRequire(import.meta.url)(values["pump-addon"]!) as {
      Pump: new (
        cb: (k: number, id: number, d: Buffer | null, x: number) => void,
      ) => {
        addStream(id: number, fd: number, ring: number, log: string | null, max: number, seed: Buffer | null): void;
        bindDgram(id: number, p: string, u: number, g: number, r: number, b: number): void;
      };
      pipe(): [number, number];
      Socket: new (cb: (b: Buffer) => void) => { connect(p: string): void; send(b: Buffer): number };
    };
    const dir = mkdtempSync(`${tmpdir()}/umld-sup-`);
    let events = 0;
    for (let i = 0; i < n; i++) {
      const pump = new addon.Pump(() => events++);
      const [r, w] = addon.pipe();
      pump.addStream(0, r, 64 * 1024, null, 0, null); // the console: a 64 KiB scrollback ring, as umld's
      pump.bindDgram(1, `${dir}/n${i}`, process.getuid!(), process.getgid!(), 100, 100); // the notify socket
      const s = new addon.Socket(() => {});
      s.connect(`${dir}/n${i}`);
      const line = Buffer.from("[ 1234.5678] a console line\n");
      tick.push(() => {
        writeSync(w, line);
        s.send(Buffer.from("notify"));
      });
      Object.assign(globalThis, { [`keep${i}`]: pump });
    }
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  } else {
    const workers: Worker[] = [];
    for (let i = 0; i < n; i++) {
      const w = kind === "umld" ? new Worker(UMLD_WORKER, { resourceLimits: UMLD_LIMITS }) : new Worker(ECHO, { eval: true, ...(kind === "bare" ? {} : { resourceLimits: TIGHT }) });
      await new Promise<void>((r) => w.once("message", () => r()));
      workers.push(w);
      if (!kind.startsWith("umld")) tick.push(() => w.postMessage("[ 1234.5678] a console line\n"));
    }
  }
  setInterval(() => {
    for (const t of tick) t();
  }, 1000);
  await sleep(3000);
  (globalThis as { gc?: () => void }).gc?.();
  await sleep(1000);
  process.stdout.write("ready\n");
}

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
}
function cpuS(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** One option at n units in a fresh process: RSS per unit against the same process with 0 units, and its idle CPU. */
async function measure(kind: Kind, n: number, idleS: number): Promise<{ perUnit: number; cpu: number; base: number }> {
  const run = async (units: number) => {
    const flags = kind === "flags" || kind === "umld-trim" ? FLAGS : [];
    const p = spawn(process.execPath, [...flags, "--expose-gc", process.argv[1]!, "--child", kind, "--n", String(units), ...(values["pump-addon"] ? ["--pump-addon", values["pump-addon"]] : [])], {
      stdio: ["ignore", "pipe", "inherit"],
      env: kind === "umld-trim" || kind === "umld-arena" ? { ...process.env, MALLOC_ARENA_MAX: "2" } : process.env,
    });
    await new Promise<void>((resolve, reject) => {
      p.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      p.on("exit", (c) => reject(new Error(`${kind} child exited ${c}`)));
    });
    const r = rss(p.pid!);
    const c0 = cpuS(p.pid!);
    await sleep(idleS * 1000);
    const cpu = (cpuS(p.pid!) - c0) / idleS;
    p.kill("SIGKILL");
    return { r, cpu };
  };
  const zero = await run(0);
  const many = await run(n);
  return { perUnit: (many.r - zero.r) / n, cpu: many.cpu, base: zero.r };
}

async function main(): Promise<void> {
  const counts = values.units!.split(",").map(Number);
  const idleS = Number(values["idle-s"]);
  const all: Kind[] = ["bare", "limits", "flags", "umld", "umld-young", "umld-arena", "umld-trim", ...(values["pump-addon"] ? (["native"] as const) : [])];
  const kinds = values.only ? all.filter((k) => values.only!.split(",").includes(k)) : all;
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(`supervision options, ${execFileSync("nproc").toString().trim()} cores, load ${load}, idle ${idleS} s, one line of traffic per unit per second\n`);
  console.log(`| option | ${counts.map((n) => `RSS per unit at ${n}`).join(" | ")} | ${counts.map((n) => `CPU at ${n} (% of a core)`).join(" | ")} |`);
  console.log(`|---|${counts.map(() => "---:|").join("")}${counts.map(() => "---:|").join("")}`);
  for (const kind of kinds) {
    const res = [];
    for (const n of counts) res.push(await measure(kind, n, idleS));
    console.log(`| ${kind} | ${res.map((x) => `${(x.perUnit / MiB).toFixed(2)} MiB`).join(" | ")} | ${res.map((x) => (x.cpu * 100).toFixed(2)).join(" | ")} |`);
  }
}

if (values.child) await child(values.child as Kind, Number(values.n));
else await main();
