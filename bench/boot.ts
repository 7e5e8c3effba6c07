/**
 * Boot latency: API start → guest ready through umld (the guest in its jail), against raw linux.uml
 * launched by this script with the same image, kernel, memory and boot
 * options (under setarch -R, posix_spawn'ed like umld's launcher), measured
 * in the same run and alternated. Then the daemon's own
 * RSS per running instance at 50 instances. Prints numbers and ratios; it is
 * not a test and asserts nothing.
 *
 *   node dist/bench/boot.js [--runs N] [--instances N]
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { native } from "../core/native.js";
import { rawLaunch, defaultBootOptions } from "../core/uml/argv.js";
import { createCow } from "../core/uml/cow.js";
import { decodeNotify } from "../core/uml/notify.js";
import { killGuestsUnder, TestDaemon } from "../tests/harness/daemon.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "20" }, instances: { type: "string", default: "50" } } });
const RUNS = Number(values.runs);
const INSTANCES = Number(values.instances);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))]!;
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

/** Raw: spawn setarch -R linux.uml ourselves and wait for the guest's readiness datagram on a notify socket. */
async function rawBoot(dir: string, image: string, i: number): Promise<number> {
  const run = `${dir}/raw${i}`;
  mkdirSync(`${run}/hostfs`, { recursive: true });
  const cow = `${run}/disk.cow`;
  createCow(cow, image);
  const notifyPath = `${run}/notify.sock`;
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const sock = new native.Socket((buf) => {
    const m = decodeNotify(buf);
    if (m.type === "user" && m.text.startsWith("umld:ready")) ready();
  });
  sock.bind(notifyPath);
  const launch = rawLaunch({
    kernelPath: "/usr/bin/linux.uml",
    umid: `bench${i}`,
    umlDir: `${dir}/run`,
    memoryMiB: 64,
    rootCow: cow,
    rootBacking: image,
    notifySocket: notifyPath,
    hostname: `raw${i}`,
    hostfsDir: `${run}/hostfs`,
    bootOptions: defaultBootOptions(),
  });
  const devNull = openSync("/dev/null", "r+");
  let exitedNow!: () => void;
  const exited = new Promise<void>((r) => (exitedNow = r));
  const t0 = performance.now();
  // spawned the way umld spawns its launcher (posix_spawn, its own session): the same cost on both sides
  const pid = native.spawnWatched("/usr/bin/setarch", [launch.command, ...launch.args], [`HOME=${run}`, "TMPDIR=/dev/shm", "PATH=/usr/bin:/bin"], [devNull, devNull, devNull], () => exitedNow());
  closeSync(devNull);
  await readyP;
  const ms = performance.now() - t0;
  process.kill(-pid, "SIGKILL");
  await exited;
  sock.close();
  rmSync(run, { recursive: true, force: true });
  return ms;
}

async function umldBoot(d: TestDaemon, i: number): Promise<number> {
  const name = `b${i}`;
  await d.create(name);
  const t0 = performance.now();
  const r = await d.act(name, "start");
  const ms = performance.now() - t0;
  if (r.status !== 200 || !r.body.instance.ready) throw new Error(`start failed: ${JSON.stringify(r.body)}`);
  await d.mustAct(name, "halt");
  await d.api("DELETE", `/v1/instances/${name}`);
  return ms;
}

async function main(): Promise<void> {
  const d = await TestDaemon.start({ logLevel: "info" });
  const image = (await d.api("GET", "/v1/images")).body.images[0].path as string;
  const rawDir = `${d.stateDir}/bench-raw`;
  mkdirSync(`${rawDir}/run`, { recursive: true });
  try {
    // warm both paths once (page cache, the daemon's JIT)
    await rawBoot(rawDir, image, 999);
    await umldBoot(d, 999);
    const raw: number[] = [];
    const managed: number[] = [];
    // settle between runs so neither side pays for the other's teardown or the worker-pool refill
    const settle = () => new Promise((r) => setTimeout(r, 600));
    for (let i = 0; i < RUNS; i++) {
      await settle();
      raw.push(await rawBoot(rawDir, image, i));
      await settle();
      managed.push(await umldBoot(d, i));
    }
    const rm = median(raw);
    const um = median(managed);
    console.log(`boot to guest ready, ${RUNS} runs each, mem=64M, same image and boot options`);
    console.log(`  raw linux.uml (spawn → readiness notify)   median ${rm.toFixed(1)} ms   p90 ${p90(raw).toFixed(1)} ms`);
    console.log(`  umld (PUT start → 200 when ready)          median ${um.toFixed(1)} ms   p90 ${p90(managed).toFixed(1)} ms`);
    const paired = median(managed.map((m, i) => m / raw[i]!));
    console.log(`  ratio umld / raw: ${(um / rm).toFixed(3)} of the medians, ${paired.toFixed(3)} median of the ${RUNS} paired runs (target ≤ 1.05; Firecracker publishes ≤ 125 ms to guest init)`);

    // daemon RSS per running instance
    const pid = d.proc.pid!;
    await new Promise((r) => setTimeout(r, 500));
    const before = rssKb(pid);
    const names = Array.from({ length: INSTANCES }, (_, i) => `m${i}`);
    for (const n of names) await d.create(n);
    const t0 = performance.now();
    for (let i = 0; i < names.length; i += 4) await Promise.all(names.slice(i, i + 4).map((n) => d.mustAct(n, "start")));
    const startAll = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1000));
    const at = rssKb(pid);
    console.log(`daemon RSS with 0 running instances: ${(before / 1024).toFixed(1)} MiB; with ${INSTANCES}: ${(at / 1024).toFixed(1)} MiB`);
    console.log(`  daemon overhead per running instance: ${((at - before) / 1024 / INSTANCES).toFixed(2)} MiB (guests themselves not counted)`);
    console.log(`  ${INSTANCES} guests started (4 at a time) in ${(startAll / 1000).toFixed(1)} s`);
    const t1 = performance.now();
    await Promise.all(names.map((n) => d.mustAct(n, "halt")));
    console.log(`  ${INSTANCES} guests halted in ${((performance.now() - t1) / 1000).toFixed(2)} s`);
  } finally {
    killGuestsUnder(d.stateDir);
    for (const p of [`${rawDir}/run`]) rmSync(p, { recursive: true, force: true });
    await d.stop();
  }
}

void main();
