/**
 * Creating a COW layer costs the same whatever the size of the image under it:
 * umld writes a 4 KiB header and sets the length of a sparse file. Prints the
 * time to create COWs over a 10 MiB and a 10 GiB image (sparse files made
 * here) and their ratio. Not a test.
 *
 *   node dist/bench/cow.js [--runs N]
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { createCow } from "../core/uml/cow.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "200" } } });
const RUNS = Number(values.runs);
const dir = mkdtempSync("/tmp/umld-bench-cow-");

function image(name: string, bytes: number): string {
  const p = `${dir}/${name}`;
  const fd = openSync(p, "w");
  ftruncateSync(fd, bytes);
  closeSync(fd);
  return p;
}

function time(backing: string): { medianUs: number; cowBytesAllocated: number } {
  const us: number[] = [];
  let allocated = 0;
  for (let i = 0; i < RUNS; i++) {
    const cow = `${dir}/c${i}.cow`;
    const t0 = process.hrtime.bigint();
    createCow(cow, backing);
    us.push(Number(process.hrtime.bigint() - t0) / 1000);
    allocated = statSync(cow).blocks * 512;
    rmSync(cow);
  }
  us.sort((a, b) => a - b);
  return { medianUs: us[Math.floor(us.length / 2)]!, cowBytesAllocated: allocated };
}

try {
  const small = time(image("10mib.img", 10 * 1024 * 1024));
  const big = time(image("10gib.img", 10 * 1024 * 1024 * 1024));
  console.log(`COW creation, ${RUNS} runs each (median):`);
  console.log(`  over a 10 MiB image: ${small.medianUs.toFixed(0)} µs, ${small.cowBytesAllocated} bytes allocated`);
  console.log(`  over a 10 GiB image: ${big.medianUs.toFixed(0)} µs, ${big.cowBytesAllocated} bytes allocated (bitmap is sparse)`);
  console.log(`  ratio 10 GiB / 10 MiB: ${(big.medianUs / small.medianUs).toFixed(2)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
