import type { InstanceView } from "../../protocol/instances.js";
import { isActive } from "../lifecycle/transitions.js";
import type { Networks } from "../network/networks.js";
import type { Catalog } from "../storage/catalog.js";
import type { NicView } from "../../protocol/networks.js";
import type { DataDiskRow } from "../store/data-disks-repo.js";
import type { DiskRow, InstanceRow, InstancesRepo } from "../store/instances-repo.js";
import type { BootQueue } from "./boot-queue.js";
import type { CpuAccounting } from "./cpu-accounting.js";
import type { FileFacts } from "./file-facts.js";
import { diskFacts, type LiveDisks } from "./live-disks.js";
import type { OpLock } from "./op-lock.js";

/** The rows a view is made of besides the instance's own: read per instance, or for a whole list at once. */
interface ViewParts {
  rootDisks(id: string): readonly DiskRow[];
  writable(id: string): DataDiskRow[];
  attachments(id: string): Array<{ slot: string; disk: string; readOnly: boolean }>;
  nics(id: string): NicView[];
}

/** An instance as the protocol shows it, from its rows and cached facts: no file is touched. */
export class Presenter {
  constructor(
    private readonly repo: InstancesRepo,
    private readonly catalog: Catalog,
    private readonly lock: OpLock,
    private readonly boots: BootQueue,
    private readonly disks: LiveDisks,
    private readonly networks: Networks,
    private readonly files: FileFacts,
    private readonly cpu: CpuAccounting,
  ) {}

  private readonly single: ViewParts = {
    rootDisks: (id) => this.repo.disks(id),
    writable: (id) => this.disks.writableOf(id),
    attachments: (id) => this.disks.attachmentsOf(id),
    nics: (id) => this.networks.nicsOf(id),
  };

  /** Every instance's view: a handful of queries for the whole list, never one per instance. */
  viewAll(rows: readonly InstanceRow[]): InstanceView[] {
    const roots = this.repo.disksByInstance();
    const data = this.disks.byInstance();
    const nics = this.networks.nicsByInstance();
    const parts: ViewParts = {
      rootDisks: (id) => roots.get(id) ?? [],
      writable: (id) => data.get(id)?.writable ?? [],
      attachments: (id) => data.get(id)?.attachments ?? [],
      nics: (id) => nics.get(id) ?? [],
    };
    const names = new Map<string, string>(); // kernels and images: a few, looked up once per list
    const name = (kind: "k" | "i", id: string) => {
      let n = names.get(kind + id);
      if (n === undefined) names.set(kind + id, (n = (kind === "k" ? this.catalog.kernelById(id)?.name : this.catalog.imageById(id)?.name) ?? "?"));
      return n;
    };
    return rows.map((r) => this.view(r, parts, name));
  }

  view(
    r: InstanceRow,
    parts: ViewParts = this.single,
    name = (kind: "k" | "i", id: string) => (kind === "k" ? this.catalog.kernelById(id)?.name : this.catalog.imageById(id)?.name) ?? "?",
  ): InstanceView {
    const kernelName = (id: string | null) => (id ? name("k", id) : null);
    const facts = this.files.of(r);
    const root = parts.rootDisks(r.id);
    const data = parts.writable(r.id);
    const virtualBytes = [...root, ...data].reduce((n, d) => n + d.size_bytes, 0);
    const used = [...root, ...data].reduce((n, d) => n + facts.allocated(d.path), 0);
    const quotaBytes = r.disk_quota_mib === null ? null : r.disk_quota_mib * 1048576;
    return {
      name: r.name,
      id: r.id,
      state: r.state,
      ready: r.ready === 1,
      pid: r.pid,
      hostfsDir: r.hostfs_dir,
      memoryMiB: r.memory_mib,
      maxMemoryMiB: r.max_memory_mib,
      unpluggedMiB: r.unplugged_mib,
      memoryReclaim: r.memory_reclaim,
      kernel: kernelName(r.kernel_id) ?? "?",
      bootedKernel: kernelName(r.booted_kernel_id),
      stagedKernel: kernelName(r.staged_kernel_id),
      image: name("i", r.image_id),
      bootOptions: JSON.parse(r.boot_options) as string[],
      disks: root.map((d) => ({
        slot: d.slot,
        ...diskFacts(d, (p) => facts.allocated(p)),
      })),
      attachments: parts.attachments(r.id),
      nics: parts.nics(r.id),
      diskUsage: { quotaBytes, virtualBytes, allocatedBytes: used, exceeded: quotaBytes !== null && used > quotaBytes },
      uptime: r.started_at && isActive(r.state) ? Math.max(0, (Date.now() - Date.parse(r.started_at)) / 1000) : null,
      bootCount: r.boot_count,
      lastExit: r.last_exit_reason && r.last_exit_at ? { code: r.last_exit_code, signal: r.last_exit_signal, reason: r.last_exit_reason, at: r.last_exit_at } : null,
      createdAt: r.created_at,
      busy: this.boots.queuedOperation(r.id) ? "start (queued)" : this.lock.busyWith(r.id),
      policy: {
        autostart: r.autostart === 1,
        autostartOrder: r.autostart_order,
        autostartDelayS: r.autostart_delay_s,
        restartPolicy: r.restart_policy,
        hangTimeoutS: r.hang_timeout_s,
        onHang: r.on_hang,
      },
      limits: { cpus: r.cpus, cpuWeight: r.cpu_weight, ioWeight: r.io_weight, pids: r.pids_max, netMbit: r.net_mbit },
      cpuSeconds: this.cpu.seconds(r),
      crashStreak: r.crash_streak,
      flag: r.flag,
      problems: facts.problems,
    };
  }
}
