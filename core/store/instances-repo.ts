import { ownerOfName } from "../tenants/principal.js";
import type { InstanceState } from "../../protocol/instances.js";
import { type Db, withoutFsync } from "./db.js";

export interface InstanceRow {
  id: string;
  name: string;
  /** the tenant that owns it (null: the admin's), set from the namespace it was created in */
  owner: string | null;
  state: InstanceState;
  ready: number;
  memory_mib: number;
  image_id: string;
  kernel_id: string;
  boot_options: string;
  pid: number | null;
  started_at: string | null;
  boot_count: number;
  last_exit_code: number | null;
  last_exit_signal: string | null;
  last_exit_reason: string | null;
  last_exit_at: string | null;
  created_at: string;
  updated_at: string;
  max_memory_mib: number;
  unplugged_mib: number;
  staged_kernel_id: string | null;
  previous_kernel_id: string | null;
  booted_kernel_id: string | null;
  disk_quota_mib: number | null;
  /** a host directory an admin granted to the guest's hostfs; null: none (an empty jail) */
  hostfs_dir: string | null;
  autostart: number;
  autostart_order: number;
  autostart_delay_s: number;
  restart_policy: "never" | "on-failure" | "always";
  crash_streak: number;
  flag: string | null;
  hang_timeout_s: number;
  on_hang: "report" | "reset";
  stopped_by_host: number;
  /** the host uid (and gid) its processes run as, from the daemon's range; null only before it is assigned */
  host_uid: number | null;
  /** memoryReclaim: 'auto' lets the reclaimer move the guest's memory below memory_mib */
  memory_reclaim: "off" | "auto";
  /** limits.cpus, cores; null: unlimited */
  cpus: number | null;
  /** limits.cpuWeight and limits.ioWeight (1-10000); null: the cgroup's default */
  cpu_weight: number | null;
  io_weight: number | null;
  /** limits.pids; null: the daemon's --guest-max-processes */
  pids_max: number | null;
  /** CPU seconds of the boots that ended */
  cpu_seconds: number;
  /** limits.netMbit: each NIC's rate in each direction, Mbit/s; null: unlimited */
  net_mbit: number | null;
}

/** Columns that may change after creation outside a state transition. */
const UPDATABLE = [
  "pid",
  "autostart",
  "autostart_order",
  "autostart_delay_s",
  "restart_policy",
  "crash_streak",
  "flag",
  "hang_timeout_s",
  "on_hang",
  "stopped_by_host",
  "disk_quota_mib",
  "memory_reclaim",
  "cpus",
  "cpu_weight",
  "io_weight",
  "pids_max",
  "cpu_seconds",
  "net_mbit",
  "hostfs_dir",
  "memory_mib",
  "max_memory_mib",
  "unplugged_mib",
  "kernel_id",
  "staged_kernel_id",
  "previous_kernel_id",
  "booted_kernel_id",
] as const;
/** Columns of a guest's run (not of its files or its grants): written without an fsync of their own (db.ts withoutFsync). */
const RUNTIME: ReadonlySet<string> = new Set(["pid", "unplugged_mib", "booted_kernel_id", "cpu_seconds", "crash_streak", "flag", "stopped_by_host"]);
/** The columns of an instance's cgroup limits and memory reclaim (create and PATCH). */
export type LimitColumns = Pick<InstanceRow, "memory_reclaim" | "cpus" | "cpu_weight" | "io_weight" | "pids_max">;
export type InstanceUpdate = Partial<Pick<InstanceRow, (typeof UPDATABLE)[number]>>;

export interface DiskRow {
  id: string;
  instance_id: string;
  slot: string;
  kind: "cow" | "raw";
  path: string;
  backing_path: string | null;
  backing_size: number | null;
  backing_mtime: number | null;
  size_bytes: number;
  created_at: string;
  /** a rebase in progress (restore, merge): the backing the disk is being moved onto (see snapshots.ts) */
  pending_backing_path?: string | null;
  pending_backing_size?: number | null;
  pending_backing_mtime?: number | null;
}

export interface StateChange {
  state: InstanceState;
  reason: string;
  at: string;
  ready?: boolean;
  pid?: number | null;
  startedAt?: string | null;
  bootCountIncrement?: boolean;
  exit?: { code: number | null; signal: string | null; reason: string } | null;
}

/**
 * Instances and their disks. Statements are prepared once. The main thread is
 * the only writer, so the rows are also kept in memory (write-through: every
 * write here re-reads its row), and reads (a list of a thousand instances, the
 * timers that walk every instance) cost no query. Cached rows are frozen: a
 * caller copies one to change it.
 */
export class InstancesRepo {
  private readonly q;
  /** id → row, in name order when listed; null until first asked */
  private rows: Map<string, InstanceRow> | null = null;
  private ordered: InstanceRow[] | null = null;
  private readonly ids = new Map<string, string>();
  /** every instance's disks, by instance; dropped at any disk write (rare), read again in one query */
  private diskCache: Map<string, DiskRow[]> | null = null;

  constructor(private readonly db: Db) {
    this.q = {
      all: db.prepare("SELECT * FROM instances ORDER BY name"),
      byName: db.prepare("SELECT * FROM instances WHERE name = ?"),
      byId: db.prepare("SELECT * FROM instances WHERE id = ?"),
      insert: db.prepare(
        `INSERT INTO instances (id, name, owner, state, ready, memory_mib, max_memory_mib, disk_quota_mib, memory_reclaim, cpus, cpu_weight, io_weight, pids_max, net_mbit, image_id, kernel_id, boot_options, created_at, updated_at)
         VALUES (@id, @name, @owner, 'stopped', 0, @memory_mib, @max_memory_mib, @disk_quota_mib, @memory_reclaim, @cpus, @cpu_weight, @io_weight, @pids_max, @net_mbit, @image_id, @kernel_id, @boot_options, @created_at, @created_at)`,
      ),
      insertDisk: db.prepare(
        `INSERT INTO disks (id, instance_id, slot, kind, path, backing_path, backing_size, backing_mtime, size_bytes, created_at)
         VALUES (@id, @instance_id, @slot, @kind, @path, @backing_path, @backing_size, @backing_mtime, @size_bytes, @created_at)`,
      ),
      disks: db.prepare("SELECT * FROM disks WHERE instance_id = ? ORDER BY slot"),
      allDisks: db.prepare("SELECT * FROM disks ORDER BY instance_id, slot"),
      beginRebase: db.prepare("UPDATE disks SET pending_backing_path = @path, pending_backing_size = @size, pending_backing_mtime = @mtime WHERE instance_id = @instance_id AND slot = @slot"),
      finishRebase: db.prepare(
        `UPDATE disks SET backing_path = pending_backing_path, backing_size = pending_backing_size, backing_mtime = pending_backing_mtime, size_bytes = pending_backing_size,
           pending_backing_path = NULL, pending_backing_size = NULL, pending_backing_mtime = NULL
         WHERE instance_id = ? AND slot = ? AND pending_backing_path IS NOT NULL`,
      ),
      cancelRebase: db.prepare("UPDATE disks SET pending_backing_path = NULL, pending_backing_size = NULL, pending_backing_mtime = NULL WHERE instance_id = ? AND slot = ?"),
      pendingRebases: db.prepare("SELECT * FROM disks WHERE pending_backing_path IS NOT NULL"),
      delete: db.prepare("DELETE FROM instances WHERE id = ?"),
      history: db.prepare("INSERT INTO state_history (instance_id, from_state, to_state, reason, at) VALUES (?, ?, ?, ?, ?)"),
      setState: db.prepare(
        `UPDATE instances SET state = @state, updated_at = @at,
           ready = COALESCE(@ready, ready),
           pid = CASE WHEN @setPid THEN @pid ELSE pid END,
           started_at = CASE WHEN @setStarted THEN @startedAt ELSE started_at END,
           boot_count = boot_count + @bootInc,
           last_exit_code = CASE WHEN @setExit THEN @exitCode ELSE last_exit_code END,
           last_exit_signal = CASE WHEN @setExit THEN @exitSignal ELSE last_exit_signal END,
           last_exit_reason = CASE WHEN @setExit THEN @exitReason ELSE last_exit_reason END,
           last_exit_at = CASE WHEN @setExit THEN @at ELSE last_exit_at END
         WHERE id = @id`,
      ),
      setReady: db.prepare("UPDATE instances SET ready = ?, updated_at = ? WHERE id = ?"),
      pruneHistory: db.prepare(
        `DELETE FROM state_history WHERE seq IN (SELECT seq FROM (SELECT seq, at FROM state_history ORDER BY seq LIMIT @batch)
           WHERE at < @before OR seq <= (SELECT COALESCE(MAX(seq), 0) FROM state_history) - @keep)`,
      ),
      committed: db.prepare("SELECT id, max_memory_mib FROM instances WHERE state IN ('starting','running','paused','stopping')"),
    };
  }

  /** Every instance, by name (from memory). */
  all(): readonly InstanceRow[] {
    if (!this.ordered) this.ordered = [...this.cache().values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return this.ordered;
  }
  byName(name: string): InstanceRow | undefined {
    this.cache();
    const id = this.ids.get(name);
    return id === undefined ? undefined : this.rows!.get(id);
  }
  byId(id: string): InstanceRow | undefined {
    return this.cache().get(id);
  }
  disks(instanceId: string): DiskRow[] {
    return this.q.disks.all(instanceId) as DiskRow[];
  }
  /** Every instance's disks by instance id (a list of views), from memory. */
  disksByInstance(): ReadonlyMap<string, readonly DiskRow[]> {
    if (this.diskCache) return this.diskCache;
    const out = new Map<string, DiskRow[]>();
    for (const d of this.q.allDisks.all() as DiskRow[]) {
      Object.freeze(d);
      const list = out.get(d.instance_id);
      if (list) list.push(d);
      else out.set(d.instance_id, [d]);
    }
    this.diskCache = out;
    return out;
  }

  /** Re-reads one instance's row after a write (also one made elsewhere: its host uid). */
  reload(id: string): void {
    if (!this.rows) return;
    const old = this.rows.get(id);
    if (old) this.ids.delete(old.name);
    const row = this.q.byId.get(id) as InstanceRow | undefined;
    if (row) {
      this.rows.set(id, Object.freeze(row));
      this.ids.set(row.name, id);
    } else this.rows.delete(id);
    this.ordered = null;
  }

  private cache(): Map<string, InstanceRow> {
    if (!this.rows) {
      this.rows = new Map();
      for (const r of this.q.all.all() as InstanceRow[]) {
        this.rows.set(r.id, Object.freeze(r));
        this.ids.set(r.name, r.id);
      }
    }
    return this.rows;
  }
  /** Boot sizes of the instances that hold a guest (starting, running, paused, stopping), by id. */
  committedMemory(): Map<string, number> {
    return new Map((this.q.committed.all() as Array<{ id: string; max_memory_mib: number }>).map((r) => [r.id, r.max_memory_mib]));
  }
  counts(): { total: number; active: number } {
    let active = 0;
    for (const r of this.cache().values()) if (r.state !== "stopped" && r.state !== "crashed") active++;
    return { total: this.rows!.size, active };
  }

  /** The instance and its disks in one transaction. */
  insert(
    row: Pick<InstanceRow, "id" | "name" | "memory_mib" | "max_memory_mib" | "disk_quota_mib" | "net_mbit" | "image_id" | "kernel_id" | "boot_options" | "created_at"> & Partial<LimitColumns>,
    disks: DiskRow[],
  ): void {
    this.db.transaction(() => {
      this.q.insert.run({ memory_reclaim: "off", cpus: null, cpu_weight: null, io_weight: null, pids_max: null, ...row, owner: ownerOfName(row.name).tenant });
      for (const d of disks) this.q.insertDisk.run(d);
    })();
    this.diskCache = null;
    this.reload(row.id);
  }

  /** Step 1 of a rebase: the new backing is recorded (and protected) before the COW is renamed. */
  beginRebase(instanceId: string, slot: string, b: { path: string; size: number; mtime: number }): void {
    this.q.beginRebase.run({ instance_id: instanceId, slot, ...b });
    this.diskCache = null;
  }
  /** Step 2 of a rebase, after the rename: the pending backing becomes the backing. */
  finishRebase(instanceId: string, slot: string): void {
    this.q.finishRebase.run(instanceId, slot);
    this.diskCache = null;
  }
  cancelRebase(instanceId: string, slot: string): void {
    this.q.cancelRebase.run(instanceId, slot);
    this.diskCache = null;
  }
  /** Disks a crash left in the middle of a rebase. */
  pendingRebases(): DiskRow[] {
    return this.q.pendingRebases.all() as DiskRow[];
  }

  delete(id: string): void {
    this.q.delete.run(id);
    this.diskCache = null;
    this.reload(id);
  }

  /** One transaction: the new state (and what comes with it) plus a history row. */
  changeState(id: string, from: InstanceState, c: StateChange): void {
    const write = this.db.transaction(() => {
      this.q.setState.run({
        id,
        state: c.state,
        at: c.at,
        ready: c.ready === undefined ? null : c.ready ? 1 : 0,
        setPid: c.pid !== undefined ? 1 : 0,
        pid: c.pid ?? null,
        setStarted: c.startedAt !== undefined ? 1 : 0,
        startedAt: c.startedAt ?? null,
        bootInc: c.bootCountIncrement ? 1 : 0,
        setExit: c.exit ? 1 : 0,
        exitCode: c.exit?.code ?? null,
        exitSignal: c.exit?.signal ?? null,
        exitReason: c.exit?.reason ?? null,
      });
      this.q.history.run(id, from, c.state, c.reason, c.at);
    });
    withoutFsync(this.db, () => write()); // a guest's state: after a power cut every guest is reconciled anyway
    this.reload(id);
  }

  private updates = new Map<string, ReturnType<Db["prepare"]>>();

  /** Updates whitelisted columns (statement prepared once per column set). */
  update(id: string, fields: InstanceUpdate): void {
    const cols = Object.keys(fields)
      .filter((c) => (UPDATABLE as readonly string[]).includes(c))
      .sort();
    if (cols.length === 0) return;
    const key = cols.join(",");
    let st = this.updates.get(key);
    if (!st) {
      st = this.db.prepare(`UPDATE instances SET ${cols.map((c) => `${c} = @${c}`).join(", ")}, updated_at = @updated_at WHERE id = @id`);
      this.updates.set(key, st);
    }
    const run = () => st.run({ ...fields, id, updated_at: new Date().toISOString() });
    if (cols.every((c) => RUNTIME.has(c))) withoutFsync(this.db, run);
    else run();
    this.reload(id);
  }

  setReady(id: string, ready: boolean, at: string): void {
    withoutFsync(this.db, () => this.q.setReady.run(ready ? 1 : 0, at, id));
    this.reload(id);
  }

  /** Deletes up to `batch` of the oldest state changes older than `before` or beyond the newest `keep`; returns how many. */
  pruneHistory(before: string, keep: number, batch: number): number {
    return this.q.pruneHistory.run({ before, keep, batch }).changes;
  }
}
