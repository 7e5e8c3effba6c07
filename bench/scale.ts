/**
 * Consolidation at scale: N idle guests through umld beside N raw linux.uml
 * guests launched by this script, in the same run. Prints the boot rate of
 * each (and their ratio), API latency while guests boot and while they idle,
 * the daemon's memory per guest and its CPU while they idle, mconsole latency
 * through the API, and the host memory of the guests after each touched and
 * freed memory, with memoryReclaim off and (where the daemon has it) auto.
 * Not a test: it asserts nothing. Cleans up (guests, cgroups, state dir) even
 * when interrupted.
 *
 *   node dist/bench/scale.js [--instances N] [--memory MiB] [--raw N] [--touch-mib M] [--idle-s S] [--hang-timeout S]
 *                            [--concurrency C] [--profile DIR] [--daemon-arg ARG]...
 * --concurrency: starts at once when the daemon has no bulk action; --profile: the daemon runs with --cpu-prof
 * into DIR (summarize one with `node dist/bench/cpuprofile.js FILE`).
 */
import { rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { defaultCgroupParent } from "../core/jail/cgroups.js";
import { killGuestsUnder, sweepCgroups, TestDaemon } from "../tests/harness/daemon.js";
import { RawGuests } from "./scale-raw.js";
import { cgroupTotals, cpuSeconds, fmtMs, hostLoad, memAvailableBytes, percentile, Prober, rssBytes } from "./scale-stats.js";
import { touchAll } from "./scale-touch.js";

const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "100" },
    memory: { type: "string", default: "32" },
    raw: { type: "string" },
    "touch-mib": { type: "string", default: "8" },
    "idle-s": { type: "string", default: "30" },
    profile: { type: "string" },
    "daemon-arg": { type: "string", multiple: true, default: [] },
    concurrency: { type: "string", default: "4" },
    "hang-timeout": { type: "string", default: "30" },
  },
});
const N = Number(values.instances);
const MEMORY = Number(values.memory);
const RAW = values.raw === undefined ? N : Number(values.raw);
const TOUCH_MIB = Number(values["touch-mib"]);
const IDLE_S = Number(values["idle-s"]);
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`# ${new Date().toISOString().slice(11, 19)} ${s}\n`);

interface Figures {
  rawRate?: number;
  rawFailed?: number;
  rawPssPerGuest?: number;
  umldRate?: number;
  umldFailed?: number;
  createS?: number;
  rss0?: number;
  rssN?: number;
  daemonCpu?: number;
  mainCpu?: number;
  guestsCpu?: number | null;
  mconsole: number[];
  memOff?: number | null;
  memOn?: number | null;
  reclaim?: string;
  touched?: number;
  stopS?: number;
  loadBefore: string;
  loadIdle?: string;
}

let daemon: TestDaemon | null = null;
let raw: RawGuests | null = null;

/** Everything this bench started goes, whatever state it was left in. */
function cleanupNow(): void {
  raw?.killNow();
  if (daemon) {
    daemon.proc.kill("SIGKILL");
    killGuestsUnder(daemon.stateDir);
    sweepCgroups(daemon.stateDir);
    rmSync(daemon.stateDir, { recursive: true, force: true });
  }
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    cleanupNow();
    process.exit(130);
  });
}

async function main(): Promise<void> {
  const f: Figures = { mconsole: [], loadBefore: hostLoad() };
  log(`${N} guests of ${MEMORY} MiB; ${f.loadBefore}`);
  const node = values.profile ? ["--cpu-prof", `--cpu-prof-dir=${values.profile}`] : [];
  daemon = await TestDaemon.start({ logLevel: "info", node, args: ["--rate-limit", "1000000", ...(values["daemon-arg"] ?? [])] });
  const d = daemon;
  const pid = d.proc.pid!;
  const parent = defaultCgroupParent(d.stateDir, (x) => createHash("sha256").update(x).digest("hex"));
  const image = (await d.api("GET", "/v1/images")).body.images[0].path as string;

  // ---- raw linux.uml, all at once
  if (RAW > 0) {
    raw = new RawGuests(`${d.stateDir}/bench-raw`, image, MEMORY);
    log(`raw: booting ${RAW} at once`);
    const r = await raw.bootAll(RAW, 30 * 60_000);
    f.rawRate = (RAW - r.failed) / (r.ms / 1000);
    f.rawFailed = r.failed;
    await sleep(10_000);
    f.rawPssPerGuest = raw.pssBytes() / RAW;
    log(`raw: ${f.rawRate.toFixed(2)} boots/s, ${r.failed} failed; ${(f.rawPssPerGuest / MiB).toFixed(1)} MiB PSS per idle guest`);
    await raw.killAll();
    raw = null;
    await sleep(5000);
  }

  // ---- umld: create, then start every guest through the API
  const names = Array.from({ length: N }, (_, i) => `s${i}`);
  let t0 = performance.now();
  const hangTimeoutS = Number(values["hang-timeout"]); // the hang probe runs, so its cost is in the idle figures
  const create = async (name: string) => {
    const r = await d.api("POST", "/v1/instances", { name, memoryMiB: MEMORY, hangTimeoutS });
    if (r.status !== 201 && r.status !== 200) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  };
  for (let i = 0; i < N; i += 8) await Promise.all(names.slice(i, i + 8).map(create));
  f.createS = (performance.now() - t0) / 1000;
  await sleep(3000);
  f.rss0 = rssBytes(pid);
  log(`created ${N} in ${f.createS.toFixed(1)} s; daemon RSS ${(f.rss0 / MiB).toFixed(1)} MiB`);

  const prober = new Prober(d.url, d.token);
  const mark = d.events.length;
  prober.setPhase("booting");
  t0 = performance.now();
  const bulk = await d.api("POST", "/v1/instances/actions", { action: "start", names, wait: false });
  if (bulk.status === 404 || bulk.status === 405) {
    const c = Number(values.concurrency);
    log(`no bulk action in this daemon: starting ${c} at a time`);
    const queue = [...names];
    await Promise.all(
      Array.from({ length: c }, async () => {
        for (let n = queue.shift(); n; n = queue.shift()) await d.act(n, "start");
      }),
    );
  } else if (bulk.status >= 300) {
    throw new Error(`bulk start: ${bulk.status} ${JSON.stringify(bulk.body).slice(0, 500)}`);
  }
  const settled = await waitAllSettled(d, names, mark, 60 * 60_000);
  const bootS = (performance.now() - t0) / 1000;
  f.umldRate = settled.ready / bootS;
  f.umldFailed = N - settled.ready;
  log(`umld: ${settled.ready} ready in ${bootS.toFixed(1)} s (${f.umldRate.toFixed(2)} boots/s), ${f.umldFailed} not`);
  await prober.stop();

  // ---- idle: memory, CPU, latency
  await sleep(15_000);
  f.rssN = rssBytes(pid);
  f.loadIdle = hostLoad();
  const c0 = cpuSeconds(pid);
  const m0 = cpuSeconds(pid, pid);
  const g0 = cgroupTotals(parent).cpuS;
  await sleep(IDLE_S * 1000);
  f.daemonCpu = (cpuSeconds(pid) - c0) / IDLE_S;
  f.mainCpu = (cpuSeconds(pid, pid) - m0) / IDLE_S;
  const g1 = cgroupTotals(parent).cpuS;
  f.guestsCpu = g0 !== null && g1 !== null ? (g1 - g0) / IDLE_S : null;
  log(`idle: daemon RSS ${(f.rssN / MiB).toFixed(1)} MiB, CPU ${(f.daemonCpu * 100).toFixed(2)} % of a core (main thread ${(f.mainCpu * 100).toFixed(2)} %); ${f.loadIdle}`);
  await prober.burst("idle", 200);
  for (let i = 0; i < 200; i++) {
    const n = names[(i * 7919) % N]!;
    const s = performance.now();
    const r = await fetch(`${d.url}/v1/instances/${n}/mconsole`, {
      method: "POST",
      headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json" },
      body: '{"command":"version"}',
    });
    await r.arrayBuffer();
    if (r.status === 200) f.mconsole.push(performance.now() - s);
  }

  // ---- host memory of guests that touched and freed memory, reclaim off then auto
  const touchN = Math.min(N, Math.floor((memAvailableBytes() * 0.5) / ((TOUCH_MIB + 16) * MiB)));
  if (TOUCH_MIB > 0 && touchN > 0) {
    log(`touching ${TOUCH_MIB} MiB in ${touchN} guests`);
    f.touched = await touchAll(d, names.slice(0, touchN), TOUCH_MIB);
    await sleep(5000);
    f.memOff = cgroupTotals(parent).memoryBytes;
    const p = await d.api("PATCH", `/v1/instances/${names[0]}`, { memoryReclaim: "auto" });
    if (p.status === 200) {
      for (const n of names.slice(1)) await d.api("PATCH", `/v1/instances/${n}`, { memoryReclaim: "auto" });
      f.memOn = await settledMemory(parent, 180_000);
      f.reclaim = "auto";
    } else {
      f.reclaim = `not in this daemon (${p.body?.error?.code ?? p.status})`;
    }
  }

  // ---- stop them all
  t0 = performance.now();
  const halt = await d.api("POST", "/v1/instances/actions", { action: "halt", names, wait: true });
  if (halt.status === 404 || halt.status === 405) {
    const queue = [...names];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let n = queue.shift(); n; n = queue.shift()) await d.act(n, "halt");
      }),
    );
  }
  f.stopS = (performance.now() - t0) / 1000;
  print(f, prober);
}

/**
 * Until every named guest is ready or has failed (crashed, stopped); counts the ready ones. The event
 * stream says when; a list every 2 s catches what it may have dropped under load (the harness's
 * subscriber is one slow reader among 400 boots).
 */
async function waitAllSettled(d: TestDaemon, names: string[], from: number, timeoutMs: number): Promise<{ ready: number }> {
  const want = new Set(names);
  const ready = new Set<string>();
  const failed = new Set<string>();
  const until = Date.now() + timeoutMs;
  let seen = from;
  let listedAt = Date.now();
  while (ready.size + failed.size < want.size && Date.now() < until) {
    for (; seen < d.events.length; seen++) {
      const e = d.events[seen] as { type: string; instance?: string; to?: string };
      if (!e.instance || !want.has(e.instance)) continue;
      if (e.type === "instance.ready") ready.add(e.instance);
      else if (e.type === "instance.state" && (e.to === "crashed" || e.to === "stopped") && !ready.has(e.instance)) failed.add(e.instance);
    }
    if (Date.now() - listedAt > 2000) {
      listedAt = Date.now();
      const list = await d.api("GET", "/v1/instances");
      for (const i of (list.body?.instances ?? []) as Array<{ name: string; state: string; ready: boolean }>) {
        if (!want.has(i.name)) continue;
        if (i.ready) ready.add(i.name);
        else if (i.state === "crashed" && !ready.has(i.name)) failed.add(i.name); // "stopped" may be one not started yet
      }
    }
    await sleep(100);
  }
  return { ready: ready.size };
}

/** The guests' memory once it stops falling (or at the deadline), after a minute at least: the reclaimer waits for a quiet guest first. */
async function settledMemory(parent: string, timeoutMs: number): Promise<number | null> {
  const start = Date.now();
  const until = start + timeoutMs;
  let last = cgroupTotals(parent).memoryBytes;
  for (;;) {
    await sleep(10_000);
    const now = cgroupTotals(parent).memoryBytes;
    if (now === null || last === null || Date.now() > until) return now;
    if (now >= last * 0.99 && Date.now() - start >= 60_000) return now;
    last = now;
  }
}

function print(f: Figures, prober: Prober): void {
  const s = (phase: string) => prober.samples.get(phase) ?? { health: [], list: [] };
  const lat = (xs: number[]) => `p50 ${fmtMs(percentile(xs, 0.5))} ms, p99 ${fmtMs(percentile(xs, 0.99))} ms (${xs.length})`;
  const mib = (b: number | null | undefined) => (b === null || b === undefined ? "–" : `${(b / MiB).toFixed(1)} MiB`);
  const rows: Array<[string, string, string]> = [
    [
      `${N} guests booted (${MEMORY} MiB each)`,
      `raw ${f.rawRate?.toFixed(2) ?? "–"} boots/s (${RAW} at once${f.rawFailed ? `, ${f.rawFailed} failed` : ""}); umld ${f.umldRate?.toFixed(2)} boots/s${f.umldFailed ? ` (${f.umldFailed} failed)` : ""}; ratio ${f.rawRate ? (f.umldRate! / f.rawRate).toFixed(2) : "–"}`,
      "≥ 0.9 × raw",
    ],
    ["GET /v1/health while booting", lat(s("booting").health), "p99 < 20 ms"],
    ["GET /v1/health idle", lat(s("idle").health), "p99 < 5 ms"],
    [`GET /v1/instances while booting`, lat(s("booting").list), "p99 < 50 ms"],
    [`GET /v1/instances idle`, lat(s("idle").list), "p99 < 50 ms"],
    ["daemon memory", `${mib(f.rss0)} with 0 running + ${mib((f.rssN! - f.rss0!) / N)} per running guest (raw idle guest: ${mib(f.rawPssPerGuest)} PSS)`, "≤ 3 MiB per guest"],
    [
      "daemon CPU, guests idle",
      `${(f.daemonCpu! * 100).toFixed(2)} % of a core, ${(f.mainCpu! * 100).toFixed(2)} % on the main thread (the guests: ${f.guestsCpu === null || f.guestsCpu === undefined ? "–" : (f.guestsCpu * 100).toFixed(1)} %)`,
      "≤ 1 % of a core",
    ],
    ["mconsole through the API", lat(f.mconsole), "p50 ≤ 1 ms"],
    [
      `host memory, ${f.touched ?? 0} guests touched ${TOUCH_MIB} MiB and freed it`,
      `reclaim off ${mib(f.memOff)}; ${f.reclaim === "auto" ? `auto ${mib(f.memOn)}` : `auto: ${f.reclaim ?? "–"}`} (all ${N} guests)`,
      "–",
    ],
  ];
  console.log(`\numld scale bench: ${N} guests; before: ${f.loadBefore}; idle: ${f.loadIdle}`);
  console.log(`created in ${f.createS?.toFixed(1)} s; all halted in ${f.stopS?.toFixed(1)} s\n`);
  console.log("| figure | measured | target |\n|---|---|---|");
  for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);
}

main()
  .catch((e) => {
    log(`failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    if (raw) await raw.killAll().catch(() => {});
    if (daemon) {
      const d = daemon;
      daemon = null;
      await d.kill("SIGTERM").catch(() => {});
      killGuestsUnder(d.stateDir);
      sweepCgroups(d.stateDir);
      rmSync(d.stateDir, { recursive: true, force: true });
    }
  });
