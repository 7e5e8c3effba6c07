/**
 * Cold migration time against the guest's disk size: a fleet of two umld
 * hosts on a throwaway etcd (all on this machine, loopback), an instance
 * whose COW holds N MiB of data (written into it on the host while it is
 * stopped: the bytes a guest would have written), migrated from one host to
 * the other; beside it, a plain `cp --sparse=always` of the same files (the
 * COW, and the image when the migration had to send it) and their sha256, as
 * the baseline measured in the same run. Prints numbers; asserts nothing.
 *
 *   node dist/bench/migrate.js [--sizes 16,64,256] [--image-mib 512]
 */
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { parseArgs } from "node:util";
import { cowLayout } from "../core/uml/cow.js";
import { TestFleet } from "../tests/harness/fleet.js";

const { values } = parseArgs({ options: { sizes: { type: "string", default: "16,64,256" }, "image-mib": { type: "string", default: "512" } } });
const SIZES = values.sizes.split(",").map(Number);
const IMAGE_MIB = Number(values["image-mib"]);

/** Writes `mib` MiB of random data into the COW's data area (as a guest's writes would land there). */
function fill(cow: string, imageBytes: number, mib: number): void {
  const fd = openSync(cow, "r+");
  const buf = Buffer.alloc(1024 * 1024);
  const { dataOffset } = cowLayout(imageBytes);
  for (let i = 0; i < mib; i++) writeSync(fd, randomFillSync(buf), 0, buf.length, dataOffset + i * buf.length);
  closeSync(fd);
}

function plainCopy(files: string[], dir: string): number {
  const t = performance.now();
  for (const [i, f] of files.entries()) {
    execFileSync("cp", ["--sparse=always", f, `${dir}/copy${i}`]);
    execFileSync("sha256sum", [`${dir}/copy${i}`]);
    execFileSync("sync", [`${dir}/copy${i}`]);
  }
  return performance.now() - t;
}

const allocatedMiB = (f: string) => Math.round((statSync(f).blocks * 512) / 1048576);

async function main(): Promise<void> {
  const fleet = await TestFleet.start(["bench-a", "bench-b"], { leaseTtlS: 3 });
  const tmp = mkdtempSync("/tmp/umld-bench-copy-");
  try {
    const a = fleet.host("bench-a");
    await a.d.client().call("buildImage", { body: { name: "bench-img", recipe: "busybox", sizeMiB: IMAGE_MIB } });
    const imageRow = (await a.d.client().call("listImages")).images.find((i) => i.name === "bench-img")!;
    console.log(`image ${IMAGE_MIB} MiB (${imageRow.sizeBytes} bytes); two hosts on loopback; times in ms`);
    console.log("data MiB | COW allocated MiB | image sent | migrate ms | cp+sha256+sync ms | ratio");
    for (const [i, mib] of SIZES.entries()) {
      const name = `bench-${i}`;
      const v = await a.d.client().call("createInstance", { body: { name, memoryMiB: 64, image: "bench-img", host: "bench-a" } });
      const cow = `${a.stateDir}/instances/${v.id}/disk0.cow`;
      fill(cow, imageRow.sizeBytes, mib);
      const t = performance.now();
      const r = await a.d.api("POST", `/v1/instances/${name}/migrate`, { host: "bench-b" });
      const ms = performance.now() - t;
      if (r.body.operation?.status !== "succeeded") throw new Error(`migration failed: ${JSON.stringify(r.body)}`);
      const res = r.body.operation.result as { imageCopied: boolean };
      // the baseline: the same files, copied and hashed once each on the same disk
      const files = [`${fleet.host("bench-b").stateDir}/instances/${(await fleet.host("bench-b").d.get(name)).id}/disk0.cow`];
      if (res.imageCopied) files.push(imageRow.path);
      const base = plainCopy(files, tmp);
      rmSync(`${tmp}/copy0`, { force: true });
      rmSync(`${tmp}/copy1`, { force: true });
      console.log(`${mib} | ${allocatedMiB(files[0]!)} | ${res.imageCopied ? "yes" : "no"} | ${Math.round(ms)} | ${Math.round(base)} | ${(ms / base).toFixed(2)}`);
      await fleet.host("bench-b").d.api("DELETE", `/v1/instances/${name}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await fleet.stop();
  }
}

void main();
