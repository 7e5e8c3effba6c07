/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and prints where one thread's time
 * went: the functions with the most self time, and the longest stretches the
 * thread was busy without a break (what held its event loop), each with the
 * stacks it spent the most time in. For bench/scale.ts --profile.
 *
 *   node dist/bench/cpuprofile.js FILE [--top N] [--from S --to S] [--long N] [--callers FUNCTION]
 * --callers: where FUNCTION's time (itself and below) came from, by the stack above it.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { callers: { type: "string" }, top: { type: "string", default: "25" }, from: { type: "string" }, to: { type: "string" }, long: { type: "string", default: "8" } },
});
const p = JSON.parse(readFileSync(positionals[0]!, "utf8")) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n: Node) => `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, "$1/")}:${n.callFrame.lineNumber + 1}`;
const idle = (n: Node) => ["(idle)", "(program)", "(garbage collector)"].includes(n.callFrame.functionName) && n.callFrame.url === "";
const stack = (id: number, depth = 6) => {
  const out: string[] = [];
  for (let x: number | undefined = id; x !== undefined && out.length < depth; x = parent.get(x)) {
    const n = byId.get(x)!;
    if (n.callFrame.functionName !== "(root)") out.push(name(n));
  }
  return out.join(" < ");
};

const from = values.from === undefined ? -Infinity : Number(values.from) * 1e6;
const to = values.to === undefined ? Infinity : Number(values.to) * 1e6;
const self = new Map<number, number>();
let t = p.startTime;
let busyFrom = -1;
let busySamples: Array<[number, number]> = [];
const stretches: Array<{ at: number; ms: number; top: Array<[string, number]> }> = [];
const closeStretch = (end: number) => {
  if (busyFrom < 0) return;
  const per = new Map<string, number>();
  for (const [id, dt] of busySamples) per.set(stack(id, 4), (per.get(stack(id, 4)) ?? 0) + dt);
  stretches.push({ at: (busyFrom - p.startTime) / 1e6, ms: (end - busyFrom) / 1000, top: [...per].sort((a, b) => b[1] - a[1]).slice(0, 3) });
  busyFrom = -1;
  busySamples = [];
};
let total = 0;
let busy = 0;
/** with --callers: the time under the named function, by the 3 frames above its outermost call */
const callers = new Map<string, number>();
const attribute = (id: number, dt: number) => {
  let hit: number | undefined;
  for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) if (byId.get(x)!.callFrame.functionName === values.callers) hit = x;
  if (hit === undefined) return;
  const p0 = parent.get(hit);
  const key = p0 === undefined ? "(top)" : stack(p0, 3);
  callers.set(key, (callers.get(key) ?? 0) + dt);
};
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i + 1] ?? 0;
  t += p.timeDeltas[i]!;
  const rel = t - p.startTime;
  if (rel < from || rel > to) continue;
  const n = byId.get(p.samples[i]!)!;
  total += dt;
  self.set(n.id, (self.get(n.id) ?? 0) + dt);
  if (values.callers) attribute(n.id, dt);
  if (n.callFrame.functionName === "(idle)") closeStretch(t);
  else {
    busy += dt;
    if (busyFrom < 0) busyFrom = t;
    busySamples.push([n.id, dt]);
  }
}
closeStretch(t);

const perFn = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  if (n.callFrame.functionName === "(idle)") continue;
  perFn.set(idle(n) ? n.callFrame.functionName : name(n), (perFn.get(idle(n) ? n.callFrame.functionName : name(n)) ?? 0) + us);
}
console.log(`${positionals[0]}: ${(total / 1e6).toFixed(1)} s profiled, busy ${(busy / 1e6).toFixed(2)} s (${((busy / total) * 100).toFixed(1)} %)`);
console.log("self time:");
for (const [f, us] of [...perFn].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`  ${(us / 1000).toFixed(0).padStart(7)} ms  ${f}`);
console.log("longest busy stretches:");
for (const s of stretches.sort((a, b) => b.ms - a.ms).slice(0, Number(values.long))) {
  console.log(`  ${s.ms.toFixed(1).padStart(7)} ms at ${s.at.toFixed(2)} s`);
  for (const [st, us] of s.top) console.log(`      ${(us / 1000).toFixed(1).padStart(6)} ms  ${st}`);
}
if (values.callers) {
  const sum = [...callers.values()].reduce((a, b) => a + b, 0);
  console.log(`${values.callers}: ${(sum / 1000).toFixed(0)} ms (${((sum / total) * 100).toFixed(1)} % of the time profiled), called from:`);
  for (const [st, us] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`  ${(us / 1000).toFixed(0).padStart(7)} ms  ${st}`);
}
