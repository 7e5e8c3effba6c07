import { parseArgs } from "node:util";
import { DEFAULT_OVERCOMMIT } from "../core/instances/admission.js";
import { DEFAULT_HOST_IDS, parseHostIdRange, type HostIdRange } from "../core/jail/host-ids.js";

export interface DaemonConfig {
  stateDir: string;
  listen: { host: string; port: number } | null;
  logLevel: string;
  kernelPath: string;
  /** on SIGTERM/SIGINT: shut every guest down (halt after the deadline) instead of leaving them running */
  shutdownGuests: boolean;
  shutdownDeadlineS: number;
  limits: { ratePerMinute: number; bodyLimitBytes: number };
  /** host uids/gids for jailed guests and switches: every instance gets its own */
  guestIds: HostIdRange;
  /** cgroup umld's guests go under (default: derived from the state dir) */
  cgroupParent: string | null;
  /** use the cgroup v2 hierarchy mounted here (default: /sys/fs/cgroup if it is v2, else the v1 controllers) */
  cgroupV2: string | null;
  /** most host processes per guest */
  guestMaxProcesses: number;
  /** guests' boot sizes together may be at most the host's MemTotal times this (default 1.5) */
  memoryOvercommit: number;
  /** TLS on the TCP listener */
  tls?: { certPath: string; keyPath: string };
  /** open WebSockets per token, console viewers per instance (tenants); default 32 and 16 */
  sessions?: { perToken: number; viewersPerInstance: number };
  /** pruning of the audit log, state history and finished operations; default 90 days, 500000 rows each */
  retention?: { days: number; maxRows: number };
  /** the event journal a reconnecting client replays from; default 7 days, 100000 events */
  eventRetention?: { days: number; maxRows: number };
  /** seconds between two readings of every running guest's usage (default 5) */
  usageIntervalS?: number;
  /** guests booting at once (absent: one per CPU, at least 2) */
  bootConcurrency?: number;
  /** a fleet's member (docs/fleet.md); null: a host of its own, as before */
  fleet?: FleetConfig | null;
}

export interface FleetConfig {
  etcd: string[];
  hostName: string;
  advertise: string;
  /** the file holding the secret every host of the fleet shares (peer requests are signed with it) */
  secretFile: string;
  leaseTtlS: number;
}

export const USAGE = `usage: umld [--state-dir DIR] [--listen HOST:PORT|none] [--log-level LEVEL] [--kernel PATH]
            [--shutdown-guests [--shutdown-deadline S]] [--rate-limit N]
            [--guest-ids FIRST-LAST] [--cgroup-parent NAME] [--guest-max-processes N] [--memory-overcommit R]
            [--boot-concurrency N]
            [--tls-cert PEM --tls-key PEM]
            [--max-websockets-per-token N] [--max-console-viewers N]
            [--retention-days N] [--retention-rows N]
            [--event-retention-days N] [--event-retention-rows N] [--usage-interval S]
            [--cluster-etcd URL[,URL] --host-name NAME --advertise URL --fleet-secret-file PATH [--fleet-lease-ttl S]]

  --state-dir DIR     where umld keeps its database, images, instances and sockets (default /var/lib/umld)
  --listen HOST:PORT  TCP listener for the JSON API; requests must carry the admin token (default 127.0.0.1:7070)
                      'none' serves only the unix socket DIR/umld.sock
  --log-level LEVEL   pino level: fatal, error, warn, info, debug, trace (default info)
  --kernel PATH       the default UML kernel binary (default /usr/bin/linux.uml)
  --shutdown-guests   host-shutdown mode: on SIGTERM/SIGINT shut every guest down gracefully, halting
                      those still up after --shutdown-deadline seconds (default 60); without it guests
                      keep running when umld stops

  --guest-ids A-B     host uids/gids for guests' jails (default 2000000000-2000099999): every instance's
                      processes run as a uid of their own; no host user or subuid range may overlap
  --cgroup-parent N   the cgroup guests are put under, one child each (default 'umld' for the default
                      state dir, 'umld-<hash>' for others); cgroup v2, or v1 controllers
  --cgroup-v2 PATH    use the cgroup v2 hierarchy mounted at PATH (e.g. /sys/fs/cgroup/unified on a
                      hybrid host); default: /sys/fs/cgroup when it is v2, else the v1 controllers
  --guest-max-processes N  host processes per guest, its own and UML's (default 1024)
  --memory-overcommit R  refuse a start that would commit more guest memory (the boot sizes of the guests
                      running) than the host's MemTotal times R (default 1.5; 0.001-100); docs/performance.md
  --boot-concurrency N  guests booting at once; more starts wait their turn, their operations say
                      "queued" (default: one per CPU, at least 2; 1-1000)
  --tls-cert PEM      serve the TCP listener over TLS with this certificate (and --tls-key); the
  --tls-key PEM       unix socket stays plain (local, root only)
  --rate-limit N      requests and WebSocket upgrades per minute per token over TCP (default 1200), and
                      per remote address for requests without a valid token; the unix socket is not limited
  --max-websockets-per-token N
                      open WebSockets (events and consoles) per token (default 32)
  --max-console-viewers N
                      console viewers per instance opened with tenant tokens (default 16)
  --retention-days N  audit rows, state history and finished operations older than this are pruned (default 90)
  --retention-rows N  and at most this many of each are kept (default 500000)
  --event-retention-days N  events older than this leave the journal clients replay from
                      (GET /v1/events?since=SEQ; default 7)
  --event-retention-rows N  and at most this many are kept (default 100000)
  --usage-interval S  seconds between readings of every running guest's CPU, memory and traffic
                      (GET /metrics, /v1/usage; default 5)

  --cluster-etcd URLS join a fleet kept in etcd (its client URLs, comma-separated; docs/fleet.md)
  --host-name NAME    this host's name in the fleet (unique)
  --advertise URL     where the other hosts reach this host's API (http(s)://HOST:PORT)
  --fleet-secret-file PATH  the secret (at least 32 bytes) every host of the fleet shares: requests
                      between hosts are signed with it, and nothing else may make them
  --fleet-lease-ttl S seconds after its last renewal a host is shown lost (default 10; 2-300)

Under systemd (Type=notify) umld sends READY=1 once it serves and has adopted its guests,
WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1 when it stops (systemd/umld.service).

Environment: UMLD_STATE_DIR, UMLD_LISTEN, UMLD_LOG_LEVEL override the defaults.`;

export function parseListen(v: string): { host: string; port: number } | null {
  if (v === "none") return null;
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  if (!m) throw new Error(`--listen must be HOST:PORT or none, got '${v}'`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--listen port out of range: ${port}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

function deadline(v: string | undefined): number {
  if (v === undefined) return 60;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new Error(`--shutdown-deadline must be 1-3600 seconds, got '${v}'`);
  return n;
}

function tlsFiles(cert: string | undefined, key: string | undefined): DaemonConfig["tls"] {
  if (cert === undefined && key === undefined) return undefined;
  if (!cert || !key) throw new Error("--tls-cert and --tls-key go together");
  return { certPath: cert, keyPath: key };
}

function rate(v: string | undefined): number {
  if (v === undefined) return 1200;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new Error(`--rate-limit must be 1-1000000 requests per minute, got '${v}'`);
  return n;
}

function cgroupParent(v: string | undefined): string | null {
  if (v === undefined) return null;
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(v)) throw new Error(`--cgroup-parent must be a plain cgroup name, got '${v}'`);
  return v;
}

function absolute(flag: string, v: string): string {
  if (!/^\/[^\0]*$/.test(v) || v.split("/").includes("..")) throw new Error(`${flag} must be an absolute path, got '${v}'`);
  return v.replace(/\/+$/, "") || "/";
}

function maxProcesses(v: string | undefined): number {
  if (v === undefined) return 1024;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 16 || n > 1_000_000) throw new Error(`--guest-max-processes must be 16-1000000, got '${v}'`);
  return n;
}

function overcommit(v: string | undefined): number {
  if (v === undefined) return DEFAULT_OVERCOMMIT;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.001 || n > 100) throw new Error(`--memory-overcommit must be a ratio 0.001-100, got '${v}'`);
  return n;
}

function count(flag: string, v: string | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${flag} must be an integer 1-${max}, got '${v}'`);
  return n;
}

const HOST_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

function fleetConfig(v: Record<string, string | boolean | undefined>): FleetConfig | null {
  const flags = ["host-name", "advertise", "fleet-secret-file", "fleet-lease-ttl"] as const;
  if (v["cluster-etcd"] === undefined) {
    const stray = flags.find((f) => v[f] !== undefined);
    if (stray) throw new Error(`--${stray} needs --cluster-etcd`);
    return null;
  }
  const etcd = String(v["cluster-etcd"])
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);
  if (etcd.length === 0 || etcd.some((u) => !/^https?:\/\/[^\s/]+\/?$/.test(u)))
    throw new Error(`--cluster-etcd must be etcd client URLs (http(s)://HOST:PORT, comma-separated), got '${String(v["cluster-etcd"])}'`);
  const hostName = v["host-name"];
  if (typeof hostName !== "string" || !HOST_NAME.test(hostName)) throw new Error("a fleet member needs --host-name: lower-case letters, digits and '-', 1-63 characters");
  const advertise = v.advertise;
  if (typeof advertise !== "string" || !/^https?:\/\/[^\s/]+\/?$/.test(advertise)) throw new Error("a fleet member needs --advertise http(s)://HOST:PORT (where the other hosts reach its API)");
  const secretFile = v["fleet-secret-file"];
  if (typeof secretFile !== "string") throw new Error("a fleet member needs --fleet-secret-file (the secret every host of the fleet shares)");
  const ttl = v["fleet-lease-ttl"] === undefined ? 10 : Number(v["fleet-lease-ttl"]);
  if (!Number.isInteger(ttl) || ttl < 2 || ttl > 300) throw new Error(`--fleet-lease-ttl must be 2-300 seconds, got '${String(v["fleet-lease-ttl"])}'`);
  return { etcd, hostName, advertise: advertise.replace(/\/+$/, ""), secretFile: absolute("--fleet-secret-file", secretFile), leaseTtlS: ttl };
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): DaemonConfig | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      "state-dir": { type: "string" },
      listen: { type: "string" },
      "log-level": { type: "string" },
      kernel: { type: "string" },
      "shutdown-guests": { type: "boolean" },
      "shutdown-deadline": { type: "string" },
      "rate-limit": { type: "string" },
      "guest-user": { type: "string" },
      "guest-ids": { type: "string" },
      "cgroup-parent": { type: "string" },
      "cgroup-v2": { type: "string" },
      "guest-max-processes": { type: "string" },
      "memory-overcommit": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "max-websockets-per-token": { type: "string" },
      "max-console-viewers": { type: "string" },
      "retention-days": { type: "string" },
      "retention-rows": { type: "string" },
      "event-retention-days": { type: "string" },
      "event-retention-rows": { type: "string" },
      "usage-interval": { type: "string" },
      "cluster-etcd": { type: "string" },
      "host-name": { type: "string" },
      advertise: { type: "string" },
      "fleet-secret-file": { type: "string" },
      "fleet-lease-ttl": { type: "string" },
      "boot-concurrency": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return "help";
  if (values["guest-user"] !== undefined) throw new Error("--guest-user is gone: every guest now runs as a uid of its own from --guest-ids (docs/security.md)");
  const ids = values["guest-ids"] ?? env.UMLD_GUEST_IDS;
  const level = values["log-level"] ?? env.UMLD_LOG_LEVEL ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(level)) throw new Error(`unknown log level '${level}'`);
  return {
    stateDir: values["state-dir"] ?? env.UMLD_STATE_DIR ?? "/var/lib/umld",
    listen: parseListen(values.listen ?? env.UMLD_LISTEN ?? "127.0.0.1:7070"),
    logLevel: level,
    kernelPath: values.kernel ?? "/usr/bin/linux.uml",
    shutdownGuests: values["shutdown-guests"] === true,
    shutdownDeadlineS: deadline(values["shutdown-deadline"]),
    limits: { ratePerMinute: rate(values["rate-limit"] ?? env.UMLD_RATE_LIMIT), bodyLimitBytes: 64 * 1024 },
    guestIds: ids === undefined ? DEFAULT_HOST_IDS : parseHostIdRange(ids),
    cgroupParent: cgroupParent(values["cgroup-parent"]),
    cgroupV2: values["cgroup-v2"] === undefined ? null : absolute("--cgroup-v2", values["cgroup-v2"]),
    guestMaxProcesses: maxProcesses(values["guest-max-processes"]),
    memoryOvercommit: overcommit(values["memory-overcommit"]),
    tls: tlsFiles(values["tls-cert"], values["tls-key"]),
    sessions: {
      perToken: count("--max-websockets-per-token", values["max-websockets-per-token"], 32, 100_000),
      viewersPerInstance: count("--max-console-viewers", values["max-console-viewers"], 16, 100_000),
    },
    retention: {
      days: count("--retention-days", values["retention-days"], 90, 36_500),
      maxRows: count("--retention-rows", values["retention-rows"], 500_000, 1_000_000_000),
    },
    eventRetention: {
      days: count("--event-retention-days", values["event-retention-days"], 7, 36_500),
      maxRows: count("--event-retention-rows", values["event-retention-rows"], 100_000, 100_000_000),
    },
    usageIntervalS: count("--usage-interval", values["usage-interval"], 5, 3600),
    fleet: fleetConfig(values),
    ...(values["boot-concurrency"] !== undefined ? { bootConcurrency: count("--boot-concurrency", values["boot-concurrency"], 2, 1000) } : {}),
  };
}
