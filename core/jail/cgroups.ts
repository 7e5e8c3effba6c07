import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * One cgroup per guest (and per switch), under a parent of this daemon's:
 * every host process of the guest is counted, limited and killed together.
 * cgroup v2 where the host has it; v1 (one hierarchy per controller) otherwise.
 * Plain data, so a supervisor worker can rebuild it from a message.
 */
export interface CgroupLayout {
  version: 1 | 2;
  /** v2: [unified root]; v1: the mount of each controller umld uses (deduplicated, e.g. cpu,cpuacct) */
  hierarchies: string[];
  /** umld's parent cgroup name under each hierarchy */
  parent: string;
  /**
   * Hierarchies without umld's controllers where a guest's cgroup is made
   * only to place it: a v1 host's name=systemd and a hybrid host's cgroup2
   * (what systemd tracks units by), so guests are not processes of the
   * service that started umld and `systemctl stop umld` never reaches them.
   */
  tracking?: string[];
}

export interface CgroupLimits {
  /** hard memory limit in bytes; null: none */
  memoryBytes: number | null;
  /** most processes (UML, its helpers, one per guest process); null: none */
  pids: number | null;
  /** CPU weight 1..10000 (v2 scale; v1 shares are derived); null: the default */
  cpuWeight: number | null;
  /** most CPU time in cores (v2 cpu.max, v1 cfs quota over a 100 ms period); null or absent: none */
  cpus?: number | null;
  /** I/O weight 1..10000 (v2 io.weight; BFQ's 1..1000 is this clamped); null or absent: the default */
  ioWeight?: number | null;
}

/** The CFS period quotas are counted over (the kernel's default). */
export const CPU_PERIOD_US = 100_000;
/** The smallest quota the kernel takes. */
const CPU_QUOTA_MIN_US = 1000;

const V1_CONTROLLERS = ["memory", "pids", "cpu", "cpuacct", "blkio"];
const V2_CONTROLLERS = ["memory", "pids", "cpu", "io"];
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A tenant's level: its guests' common cgroup (`t-<tenant>`), the parent of each of its guests' cgroups. */
const TENANT_LEVEL = /^t-[a-z0-9][a-z0-9-]{0,62}$/;

/** The cgroup level all of a tenant's guests share (its CPU cap). */
export function tenantLevel(tenant: string): string {
  const level = `t-${tenant}`;
  if (!TENANT_LEVEL.test(level)) throw new Error(`tenant name not usable in a cgroup: '${tenant}'`);
  return level;
}

/** A guest's cgroup name under umld's parent: `<id>` for an admin's guest, `t-<tenant>/<id>` for a tenant's. */
export function guestCgroupName(id: string, owner: string | null): string {
  return owner ? `${tenantLevel(owner)}/${id}` : id;
}

function validName(name: string): boolean {
  const parts = name.split("/");
  if (parts.length === 1) return NAME.test(name);
  return parts.length === 2 && TENANT_LEVEL.test(parts[0]!) && NAME.test(parts[1]!);
}

/**
 * Finds the cgroup file systems: cgroup2 mounted at /sys/fs/cgroup means v2;
 * else the v1 controller mounts; `v2At` forces the cgroup2 hierarchy mounted
 * there (e.g. a hybrid host's /sys/fs/cgroup/unified).
 */
export function detectCgroups(parent: string, mountinfo = readFileSync("/proc/self/mountinfo", "utf8"), v2At?: string): CgroupLayout {
  if (!NAME.test(parent)) throw new Error(`cgroup parent name not allowed: '${parent}'`);
  const mounts = mountinfo.split("\n").map((l) => {
    const [pre, post] = l.split(" - ");
    const f = pre?.split(" ") ?? [];
    const g = post?.split(" ") ?? [];
    return { dir: f[4] ?? "", type: g[0] ?? "", superOpts: (g[2] ?? "").split(",") };
  });
  // systemd's own hierarchies on a v1 or hybrid host (it mounts them there): where it counts a unit's processes
  const systemdV1 = mounts.filter((m) => m.type === "cgroup" && m.superOpts.includes("name=systemd") && m.dir.startsWith("/sys/fs/cgroup/")).map((m) => m.dir);
  const hybridV2 = mounts.filter((m) => m.type === "cgroup2" && m.dir === "/sys/fs/cgroup/unified").map((m) => m.dir);
  const withTracking = (l: CgroupLayout, dirs: string[]): CgroupLayout => {
    const tracking = [...new Set(dirs)].filter((d) => !l.hierarchies.includes(d)).sort();
    return tracking.length ? { ...l, tracking } : l;
  };
  if (v2At !== undefined) {
    if (!mounts.some((m) => m.type === "cgroup2" && m.dir === v2At)) throw new Error(`no cgroup2 file system is mounted at ${v2At}`);
    return withTracking({ version: 2, hierarchies: [v2At], parent }, systemdV1);
  }
  const unified = mounts.find((m) => m.type === "cgroup2" && m.dir === "/sys/fs/cgroup");
  const v1 = mounts.filter((m) => m.type === "cgroup" && m.superOpts.some((o) => V1_CONTROLLERS.includes(o)));
  if (unified || v1.length === 0) {
    const dir = unified?.dir ?? mounts.find((m) => m.type === "cgroup2")?.dir;
    if (!dir) throw new Error("no cgroup file system is mounted");
    return { version: 2, hierarchies: [dir], parent };
  }
  return withTracking({ version: 1, hierarchies: [...new Set(v1.map((m) => m.dir))].sort(), parent }, [...systemdV1, ...hybridV2]);
}

/** Every hierarchy a guest's cgroup is made in: the controllers' and the tracking ones. */
function allHierarchies(l: CgroupLayout): string[] {
  return [...l.hierarchies, ...(l.tracking ?? [])];
}

/** The guest's cgroup directories (one per hierarchy): what the launcher joins. */
export function cgroupDirs(l: CgroupLayout, name: string): string[] {
  if (!validName(name)) throw new Error(`cgroup name not allowed: '${name}'`);
  return allHierarchies(l).map((h) => join(h, l.parent, name));
}

function tryWrite(path: string, value: string): boolean {
  try {
    writeFileSync(path, value);
    return true;
  } catch {
    return false;
  }
}

/** umld's parent cgroup, made once at start; on v2 the controllers are delegated to it. */
export function ensureParent(l: CgroupLayout): void {
  for (const h of l.tracking ?? []) mkdirSync(join(h, l.parent), { recursive: true });
  for (const h of l.hierarchies) {
    mkdirSync(join(h, l.parent), { recursive: true });
    if (l.version === 2) {
      const want = V2_CONTROLLERS.map((c) => `+${c}`).join(" ");
      tryWrite(join(h, "cgroup.subtree_control"), want);
      tryWrite(join(h, l.parent, "cgroup.subtree_control"), want);
    }
  }
}

/** Creates (or reuses) the cgroup and sets its limits. Returns its directories. */
export function createCgroup(l: CgroupLayout, name: string, limits: CgroupLimits): string[] {
  const dirs = cgroupDirs(l, name);
  for (const d of dirs) mkdirSync(d, { recursive: true });
  setLimits(l, name, limits);
  return dirs;
}

/** Applies limits where the controller is present; returns the files it could not write. */
export function setLimits(l: CgroupLayout, name: string, limits: CgroupLimits): string[] {
  const failed: string[] = [];
  const set = (file: string, value: string) => {
    for (const d of cgroupDirs(l, name)) {
      const p = join(d, file);
      if (existsSync(p)) {
        if (!tryWrite(p, value)) failed.push(p);
        return;
      }
    }
  };
  const weight = limits.cpuWeight ?? 100;
  const io = limits.ioWeight ?? 100;
  if (l.version === 2) {
    set("memory.max", limits.memoryBytes === null ? "max" : String(limits.memoryBytes));
    set("memory.oom.group", "1"); // an OOM kill takes the whole guest, not one of its host processes
    set("pids.max", limits.pids === null ? "max" : String(limits.pids));
    set("cpu.weight", String(weight));
    set("cpu.max", `${cpuQuotaUs(limits.cpus) ?? "max"} ${CPU_PERIOD_US}`);
    set("io.weight", `default ${io}`);
    set("io.bfq.weight", `default ${Math.min(io, 1000)}`);
  } else {
    set("memory.limit_in_bytes", limits.memoryBytes === null ? "-1" : String(limits.memoryBytes));
    set("pids.max", limits.pids === null ? "max" : String(limits.pids));
    set("cpu.shares", String(Math.min(262_144, Math.max(2, Math.round((weight * 1024) / 100)))));
    set("cpu.cfs_period_us", String(CPU_PERIOD_US));
    set("cpu.cfs_quota_us", String(cpuQuotaUs(limits.cpus) ?? -1));
    set("blkio.bfq.weight", String(Math.min(io, 1000)));
    set("blkio.weight", String(Math.min(1000, Math.max(10, io)))); // CFQ's, on kernels that still have it
  }
  return failed;
}

function cpuQuotaUs(cpus: number | null | undefined): number | null {
  return cpus === null || cpus === undefined ? null : Math.max(CPU_QUOTA_MIN_US, Math.round(cpus * CPU_PERIOD_US));
}

/** Which limits this host's cgroups can apply (read from umld's parent: what its children get). */
export function limitSupport(l: CgroupLayout): { cpus: boolean; cpuWeight: boolean; ioWeight: boolean; pids: boolean } {
  const has = (...files: string[]) => l.hierarchies.some((h) => files.some((f) => existsSync(join(h, l.parent, f))));
  return l.version === 2
    ? { cpus: has("cpu.max"), cpuWeight: has("cpu.weight"), ioWeight: has("io.weight", "io.bfq.weight"), pids: has("pids.max") }
    : { cpus: has("cpu.cfs_quota_us"), cpuWeight: has("cpu.shares"), ioWeight: has("blkio.bfq.weight", "blkio.weight"), pids: has("pids.max") };
}

/**
 * A tenant's level, made if missing, with its CPU cap (null: none). On v2 its
 * children get the controllers. v1 refuses a cap below a child's own quota:
 * callers lower the children first (guest-limits.ts).
 */
export function ensureTenantLevel(l: CgroupLayout, tenant: string, cpus: number | null): string[] {
  const level = tenantLevel(tenant);
  const failed: string[] = [];
  for (const h of l.hierarchies) {
    const dir = join(h, l.parent, level);
    mkdirSync(dir, { recursive: true });
    if (l.version === 2) tryWrite(join(dir, "cgroup.subtree_control"), V2_CONTROLLERS.map((c) => `+${c}`).join(" "));
    const write = (file: string, value: string) => {
      if (existsSync(join(dir, file)) && !tryWrite(join(dir, file), value)) failed.push(join(dir, file));
    };
    if (l.version === 2) write("cpu.max", `${cpuQuotaUs(cpus) ?? "max"} ${CPU_PERIOD_US}`);
    else {
      write("cpu.cfs_period_us", String(CPU_PERIOD_US));
      write("cpu.cfs_quota_us", String(cpuQuotaUs(cpus) ?? -1));
    }
  }
  return failed;
}

/**
 * A tenant's level weighs what its guests weigh together (their CPU and I/O
 * weights summed, clamped to the cgroup's range): under contention a tenant's
 * ten guests get what ten guests get, and a guest's own weight only divides
 * its tenant's share.
 */
export function setTenantWeights(l: CgroupLayout, tenant: string, cpuWeight: number, ioWeight: number): void {
  const cpu = Math.max(1, cpuWeight);
  const io = Math.max(1, ioWeight);
  for (const h of l.hierarchies) {
    const dir = join(h, l.parent, tenantLevel(tenant));
    const write = (file: string, value: string) => {
      if (existsSync(join(dir, file))) tryWrite(join(dir, file), value);
    };
    if (l.version === 2) {
      write("cpu.weight", String(Math.min(10_000, cpu)));
      write("io.weight", `default ${Math.min(10_000, io)}`);
      write("io.bfq.weight", `default ${Math.min(1000, io)}`);
    } else {
      write("cpu.shares", String(Math.min(262_144, Math.max(2, Math.round((cpu * 1024) / 100)))));
      write("blkio.bfq.weight", String(Math.min(1000, io)));
    }
  }
}

/** Removes a tenant's level once no guest of it is left (false while one is). */
export function removeTenantLevel(l: CgroupLayout, tenant: string): boolean {
  return removeCgroup(l, tenantLevel(tenant));
}

/** The file a cgroup's CPU time is read from: v1 cpuacct.usage (ns), v2 cpu.stat (usage_usec); null if absent. */
export function cpuUsageFile(l: CgroupLayout, name: string): string | null {
  const file = l.version === 2 ? "cpu.stat" : "cpuacct.usage";
  for (const d of cgroupDirs(l, name)) if (existsSync(join(d, file))) return join(d, file);
  return null;
}

/** Nanoseconds of CPU time from the text of that file. */
export function parseCpuUsageNs(version: 1 | 2, text: string): number | null {
  if (version === 1) {
    const n = Number(text.trim());
    return Number.isFinite(n) && text.trim() !== "" ? n : null;
  }
  const m = /^usage_usec (\d+)$/m.exec(text);
  return m ? Number(m[1]) * 1000 : null;
}

/**
 * The cgroup (name under umld's parent) a process is in, from its
 * /proc/<pid>/cgroup: where an adopted guest really is, whichever layout the
 * daemon that started it used. Null when it is not under the parent.
 */
export function cgroupOfProcess(l: CgroupLayout, procCgroup: string): string | null {
  for (const line of procCgroup.split("\n")) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    if (l.version === 2 ? controllers !== "" : !/(^|,)(memory|pids|cpu)(,|$)/.test(controllers ?? "")) continue;
    const prefix = `/${l.parent}/`;
    const at = path.indexOf(prefix); // a cgroup namespace may hide what is above umld's parent
    if (at < 0) continue;
    const name = path.slice(at + prefix.length);
    if (validName(name)) return name;
  }
  return null;
}

/**
 * Gives a cgroup (a standby launcher's, made ahead of time) its final name: a
 * rename moves no process, so it costs nothing like joining one does (v1
 * only: cgroup v2 refuses renames). A
 * cgroup already there under that name (left by a crash) is emptied and
 * removed first. A rename cannot change the parent (EIO): a tenant's guest
 * (`t-<tenant>/<id>`) is made there and the launcher, one process still, is
 * moved into it (one RCU grace period, ~10 ms).
 */
export function renameCgroup(l: CgroupLayout, from: string, to: string, pid?: number): void {
  if (cgroupDirs(l, to).some((d) => existsSync(d))) {
    killCgroup(l, to);
    removeCgroup(l, to);
  }
  const src = cgroupDirs(l, from);
  const dst = cgroupDirs(l, to);
  const pids = pid !== undefined ? [pid] : cgroupProcs(l, from);
  const sameParent = !to.includes("/") && !from.includes("/");
  for (let i = 0; i < src.length; i++) {
    if (sameParent && !existsSync(join(allHierarchies(l)[i]!, "cgroup.controllers"))) {
      renameSync(src[i]!, dst[i]!);
      continue;
    }
    // another parent (EIO), or a hybrid host's cgroup2 tracking hierarchy (renames refused, EPERM): the processes move
    mkdirSync(dst[i]!, { recursive: true });
    for (const p of pids) if (!tryWrite(join(dst[i]!, "cgroup.procs"), String(p)) && i < l.hierarchies.length) throw new Error(`could not move ${p} into ${dst[i]}`);
    try {
      rmdirSync(src[i]!);
    } catch {
      // a process that raced the move: the cgroup goes with the guest's teardown
    }
  }
}

/** Every process in the cgroup (all hierarchies). */
export function cgroupProcs(l: CgroupLayout, name: string): number[] {
  const pids = new Set<number>();
  for (const d of cgroupDirs(l, name)) {
    try {
      for (const line of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n")) if (line) pids.add(Number(line));
    } catch {
      // no such cgroup
    }
  }
  return [...pids];
}

/** SIGKILL to every process of the guest, until none is left (or `tries` rounds). Returns how many were signalled. */
export function killCgroup(l: CgroupLayout, name: string, tries = 50): number {
  let signalled = 0;
  if (l.version === 2) {
    for (const d of cgroupDirs(l, name)) tryWrite(join(d, "cgroup.kill"), "1");
  }
  for (let i = 0; i < tries; i++) {
    const pids = cgroupProcs(l, name);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
        signalled++;
      } catch {
        // gone
      }
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
  }
  return signalled;
}

/** Removes an empty cgroup; false while processes are left in it. */
export function removeCgroup(l: CgroupLayout, name: string): boolean {
  let ok = true;
  for (const d of cgroupDirs(l, name)) {
    try {
      rmdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") ok = false;
    }
  }
  return ok;
}

/** Names of the cgroups under umld's parent (e.g. to find guests of this daemon). */
export function listCgroups(l: CgroupLayout): string[] {
  const names = new Set<string>();
  for (const h of allHierarchies(l)) {
    try {
      for (const e of readdirSync(join(h, l.parent), { withFileTypes: true })) if (e.isDirectory() && NAME.test(e.name)) names.add(e.name);
    } catch {
      // parent not made yet
    }
  }
  return [...names];
}

/** The cgroup parent of umld's own guests: "umld" for the default state dir, unique per other state dir. */
export function defaultCgroupParent(stateDir: string, hash: (s: string) => string): string {
  return stateDir === "/var/lib/umld" ? "umld" : `umld-${hash(stateDir).slice(0, 12)}`;
}

/**
 * CPU seconds used by every process of the cgroup since it was made (v2
 * cpu.stat usage_usec, v1 cpuacct.usage in ns); null when the cgroup or the
 * accounting file is missing. One small file read: callers cache it.
 */
export function cpuUsage(l: CgroupLayout, name: string): number | null {
  for (const d of cgroupDirs(l, name)) {
    try {
      if (l.version === 2) {
        const m = /^usage_usec (\d+)$/m.exec(readFileSync(join(d, "cpu.stat"), "utf8"));
        if (m) return Number(m[1]) / 1e6;
      } else {
        const text = readFileSync(join(d, "cpuacct.usage"), "utf8").trim();
        if (/^\d+$/.test(text)) return Number(text) / 1e9;
      }
    } catch {
      // not this hierarchy (v1: only the cpuacct one has the file), or the cgroup is gone
    }
  }
  return null;
}
