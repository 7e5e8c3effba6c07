import { existsSync } from "node:fs";
import { bootOptionProblem } from "../../protocol/names.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { checkCow } from "../uml/cow.js";
import type { LiveDisks } from "./live-disks.js";
import { recordOf } from "./snapshots.js";

/** Questions asked of the instances' records: who uses a file or a kernel, what is wrong with an instance's files. */
export class InstanceQueries {
  constructor(
    private readonly repo: InstancesRepo,
    private readonly disks: LiveDisks,
  ) {}

  /** What is wrong with the instance's files now: a record never points at a missing file without saying so. */
  problems(r: InstanceRow): string[] {
    const out: string[] = [];
    const refused = (JSON.parse(r.boot_options) as string[]).filter((o) => bootOptionProblem(o) !== null);
    if (refused.length) out.push(`boot options no longer allowed, left out at boot: ${refused.map((o) => o.split("=")[0]).join(", ")}`);
    for (const d of this.repo.disks(r.id)) {
      if (!existsSync(d.path)) out.push(`disk ${d.slot}: ${d.path} is missing`);
      else if (d.kind === "cow") {
        const c = checkCow(d.path, recordOf(d)); // the record, never the guest-written header; no size or mtime in the reason
        if (!c.ok) out.push(`disk ${d.slot}: ${c.reason}`);
      }
    }
    return out;
  }

  /** The instance's writable layers: root COW and read-write data disks. */
  writableFiles(r: InstanceRow): Array<{ path: string; sizeBytes: number }> {
    return [...this.repo.disks(r.id), ...this.disks.writableOf(r.id)].map((d) => ({ path: d.path, sizeBytes: d.size_bytes }));
  }

  /** Every COW whose backing is this file: root disks and data disks. */
  cowsOn(path: string): Array<{ disk: string; path: string }> {
    return this.disks
      .list()
      .filter((d) => d.kind === "cow" && d.backingPath === path)
      .map((d) => ({ disk: d.name, path: d.path }));
  }

  /** What is layered on a file: instances whose root COW sits on it, and data disks (as disk:<name>). */
  layersOn(path: string): string[] {
    const instances = this.repo
      .all()
      .filter((r) => this.repo.disks(r.id).some((d) => d.backing_path === path))
      .map((r) => r.name);
    return [...instances, ...this.disks.onBacking(path).map((n) => `disk:${n}`)];
  }

  /** Instances that boot, run or have staged this kernel. */
  kernelUsers(kernelId: string): string[] {
    return this.repo
      .all()
      .filter((r) => r.kernel_id === kernelId || r.staged_kernel_id === kernelId || r.booted_kernel_id === kernelId)
      .map((r) => r.name);
  }
}
