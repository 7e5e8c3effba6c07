import { closeSync, openSync, readSync } from "node:fs";
import { cpuUsageFile, parseCpuUsageNs, type CgroupLayout } from "../jail/cgroups.js";
import type { InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { Registry } from "./registry.js";

interface Open {
  cgroup: string;
  fd: number;
  /** the last reading, ns */
  ns: number;
}

/**
 * CPU time of each running guest, from its cgroup: the usage file is kept
 * open and re-read at offset 0 (~2 µs, no path walk), so the reclaimer can
 * read every guest it watches several times a second; the views read the
 * cached value (refreshed every `everyMs`). A boot's total is added to the
 * instance's row when it ends.
 */
export class CpuAccounting {
  private readonly open = new Map<string, Open>();
  private readonly buf = Buffer.alloc(512);
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly cgroups: CgroupLayout | null,
    private readonly registry: Registry,
    private readonly repo: InstancesRepo,
    private readonly everyMs = 5000,
  ) {}

  start(): void {
    if (!this.cgroups) return;
    this.timer = setInterval(() => this.sampleAll(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const id of [...this.open.keys()]) this.close(id);
  }

  /** Reads the guest's CPU time now, ns since its cgroup was made (null: no cgroup, not running). */
  sample(id: string): number | null {
    const cgroup = this.registry.get(id)?.cgroup;
    if (!this.cgroups || !cgroup) {
      this.close(id);
      return null;
    }
    let o = this.open.get(id);
    if (o && o.cgroup !== cgroup) {
      this.close(id);
      o = undefined;
    }
    try {
      if (!o) {
        const file = cpuUsageFile(this.cgroups, cgroup);
        if (!file) return null;
        o = { cgroup, fd: openSync(file, "r"), ns: 0 };
        this.open.set(id, o);
      }
      const n = readSync(o.fd, this.buf, 0, this.buf.length, 0);
      const ns = parseCpuUsageNs(this.cgroups.version, this.buf.toString("latin1", 0, n));
      if (ns !== null) o.ns = ns;
      return ns;
    } catch {
      this.close(id); // the cgroup went (the guest ended): reopened at its next boot
      return null;
    }
  }

  /** CPU seconds of the instance over all its boots: the ended ones' from its row, the running one's last reading. */
  seconds(r: InstanceRow): number | null {
    if (!this.cgroups) return null;
    return r.cpu_seconds + (this.open.get(r.id)?.ns ?? 0) / 1e9;
  }

  /** A boot ended: its CPU time (read by the worker before the cgroup went, else the last reading) joins the row's total. */
  finish(id: string, finalNs: number | null | undefined): void {
    const last = this.open.get(id)?.ns ?? 0;
    this.close(id);
    const ns = finalNs ?? last;
    const row = this.repo.byId(id);
    if (row && ns > 0) this.repo.update(id, { cpu_seconds: row.cpu_seconds + ns / 1e9 });
  }

  private sampleAll(): void {
    for (const id of this.open.keys()) if (!this.registry.has(id)) this.close(id);
    for (const id of this.registry.ids()) this.sample(id);
  }

  private close(id: string): void {
    const o = this.open.get(id);
    if (!o) return;
    this.open.delete(id);
    try {
      closeSync(o.fd);
    } catch {
      // closed already
    }
  }
}
