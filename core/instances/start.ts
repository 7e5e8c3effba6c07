import { UmldError } from "../errors.js";
import { binaryFiles } from "../jail/binary-files.js";
import type { JailFile } from "../jail/elf-deps.js";
import type { Networks } from "../network/networks.js";
import type { StatePaths } from "../paths.js";
import type { Catalog } from "../storage/catalog.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import { checkCow } from "../uml/cow.js";
import { asObject } from "../util/fs.js";
import { bootSpec, type BootInputs } from "./boot-spec.js";
import { bootFailed, fatalError, type Facts, type FactWait } from "./facts.js";
import { grantFile, prepareInstanceDir } from "./guest-files.js";
import type { Guests, JailConfig } from "./guests.js";
import type { GuestLimits } from "./guest-limits.js";
import type { LiveDisks } from "./live-disks.js";
import { recordOf } from "./snapshots.js";
import type { WorkerPool } from "../supervisor/host.js";
import type { WorkerBootSpec } from "../supervisor/rpc.js";
import type { WorkerFacts } from "./worker-facts.js";

export interface StartDeps {
  paths: StatePaths;
  repo: InstancesRepo;
  catalog: Catalog;
  pool: WorkerPool;
  jail: JailConfig;
  guests: Guests;
  facts: Facts;
  workers: WorkerFacts;
  disks: LiveDisks;
  networks: Networks;
  limits: GuestLimits;
  scrollbackBytes: number;
  consoleLogMaxBytes: number;
  /** a refused start found a problem with the instance's files: its view says so from now on */
  onDiskProblem(row: InstanceRow): void;
}

/**
 * Starting a guest: its boot spec (jail, command line, files), its files made
 * its own, a worker, the spawn, then the kernel's SOCKET notification and, for
 * images that signal it, the guest's readiness.
 */
export class Starter {
  constructor(private readonly d: StartDeps) {}

  /** Refuses a start over a COW whose header disagrees with its record (disk_backing_changed). */
  checkDisks(row: InstanceRow): void {
    for (const disk of this.d.repo.disks(row.id)) {
      if (disk.kind !== "cow") continue;
      const c = checkCow(disk.path, recordOf(disk));
      if (c.ok) continue;
      this.d.onDiskProblem(row);
      throw new UmldError("disk_backing_changed", `disk ${disk.slot} cannot be used: ${c.reason}`, { slot: disk.slot, cow: disk.path, backing: disk.backing_path });
    }
  }

  async start(row: InstanceRow, timeoutMs: number): Promise<void> {
    const spec = this.bootSpec(row, this.d.limits.prepareBoot(row));
    prepareInstanceDir(this.d.paths.instanceDir(row.id), row.id);
    const root = this.d.repo.disks(row.id).find((x) => x.slot === "ubda")!;
    grantFile(root.path, spec.guest, 0o600);
    this.d.disks.grantAll(row.id, spec.guest, this.d.guests.identityOfRow(row).groups[1]!);
    const host = await this.d.pool.take();
    const rt = this.d.workers.attach(row, host);
    rt.cgroup = spec.cgroup?.name ?? null;
    for (const p of spec.jailHolds) rt.jail.add(p);
    const spawned = this.d.facts.wait(row.id, (f) => f === "spawned" || f === "fatal", 10_000);
    const booted = this.d.facts.wait(row.id, (f) => f === "booted" || f === "exited" || f === "fatal", timeoutMs);
    host.boot(spec);
    const first = await spawned;
    if (first.fact === "fatal") throw fatalError(first.m);
    await this.expectBoot(row, booted, timeoutMs);
  }

  /** Waits for the kernel to come up and, for images that signal it, for the guest to be ready. */
  async expectBoot(row: InstanceRow, booted: FactWait, timeoutMs: number): Promise<void> {
    const image = this.d.catalog.imageById(row.image_id);
    const ready = this.d.facts.wait(row.id, (f) => f === "ready" || f === "exited", timeoutMs);
    const b = await booted;
    if (b.fact === "fatal") throw fatalError(b.m);
    if (b.fact === "exited") throw bootFailed(row.name, b.m);
    if (image?.readiness !== "notify") return;
    if (this.d.repo.byId(row.id)?.ready) return;
    const r = await ready.catch((e) => {
      throw new UmldError("action_timeout", `guest '${row.name}' booted but did not signal readiness within ${Math.round(timeoutMs / 1000)} s`, asObject((e as UmldError).details));
    });
    if (r.fact === "exited") throw bootFailed(row.name, r.m);
  }

  /** Everything a worker needs to run (or adopt) this instance, in the cgroup named (under umld's parent). */
  bootSpec(row: InstanceRow, cgroup: string): WorkerBootSpec {
    const kernel = this.d.catalog.kernelById(row.kernel_id)!;
    const image = this.d.catalog.imageById(row.image_id)!;
    const root = this.d.repo.disks(row.id).find((x) => x.slot === "ubda");
    if (!root) throw new UmldError("host_error", `instance '${row.name}' has no root disk`);
    const needs = this.d.networks.jailNeeds(row.id);
    let kernelFiles: JailFile[];
    try {
      kernelFiles = binaryFiles(kernel.path);
    } catch (e) {
      throw new UmldError("host_error", `kernel '${kernel.name}' cannot run in a jail: ${(e as Error).message}`, { kernel: kernel.name });
    }
    const inputs: BootInputs = {
      paths: this.d.paths,
      launcher: this.d.jail.launcher,
      cgroups: this.d.jail.cgroups,
      cgroup: { name: cgroup, limits: this.d.limits.limitsOf(row) },
      identity: this.d.guests.identityOfRow(row),
      kernel: { path: kernel.path, files: kernelFiles },
      rootCow: root.path,
      rootBacking: root.backing_path ?? image.path,
      dataDisks: this.d.disks.jailFiles(row.id),
      devices: [...this.d.disks.bootArgs(row.id), ...this.d.networks.bootArgs(row.id)],
      tun: needs.tun,
      extraFiles: needs.files,
      maxProcesses: this.d.jail.maxProcesses,
      scrollbackBytes: this.d.scrollbackBytes,
      consoleLogMaxBytes: this.d.consoleLogMaxBytes,
    };
    return bootSpec(row, inputs);
  }
}
