import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { cmdline, pids, processUid } from "../host/procfs.js";
import { binaryFiles } from "../jail/binary-files.js";
import { jailArgv } from "../jail/jail-spec.js";
import { DNSMASQ, dnsmasqArgs, dnsRoles, ROLE_CAPS, type DnsRole, type DnsSpec } from "./dns.js";

export interface DnsJail {
  launcher: string;
  /** the jails' mount point (an empty root-owned directory) */
  jailRoot: string;
}

const ROLES: DnsRole[] = ["dns", "ra"];
const sleep = (s: number) => spawnSync("sleep", [String(s)]);

/**
 * The dnsmasq processes of host networks that serve names (`dns: true`) or
 * have an IPv6 prefix: daemons of their own (they outlive umld like the
 * bridge they serve), each network's under a host uid of its own, in a jail
 * (umld-jail: a mount namespace holding only dnsmasq and its libraries, no
 * capability but the role's, no_new_privs), so one compromised by its guests
 * reaches no other network's, nor umld's state. umld writes the pid file
 * (root's, outside the jail) and finds the process again at start by it,
 * keeping it when its uid and command line are the ones wanted; otherwise
 * it is stopped and started anew, so there is never a second.
 */
export class NetworkDns {
  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    private readonly jail: DnsJail,
  ) {}

  private file(role: DnsRole | "legacy", networkId: string, ext: "pid" | "log"): string {
    if (!/^[0-9a-f]{16}$/.test(networkId)) throw new Error(`refusing network id '${networkId}'`);
    // an older umld's one dnsmasq per network (as nobody) wrote dns-<id>.pid itself
    return join(this.dir, `${role === "legacy" ? "dns" : role}-${networkId}.${ext}`);
  }

  /** The pid in a pid file, if it names a dnsmasq that `owns` accepts. */
  private running(pidFile: string, owns: (pid: number, args: string[]) => boolean): { pid: number; args: string[] } | null {
    try {
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      if (!Number.isInteger(pid) || pid <= 1) return null;
      const cmd = (cmdline(pid) ?? []).filter(Boolean);
      if (cmd[0] !== DNSMASQ || !owns(pid, cmd.slice(1))) return null;
      return { pid, args: cmd.slice(1) };
    } catch {
      return null;
    }
  }

  ensure(s: DnsSpec): void {
    if (!existsSync(DNSMASQ)) throw new Error(`DNS names need ${DNSMASQ} (Debian package dnsmasq-base)`);
    this.retireLegacy(s.networkId);
    const wanted = dnsRoles(s);
    for (const role of ROLES) {
      const pidFile = this.file(role, s.networkId, "pid");
      const cur = this.running(pidFile, (pid) => processUid(pid) === s.uid);
      if (!wanted.includes(role)) {
        if (cur) this.stop(cur.pid);
        rmSync(pidFile, { force: true });
        continue;
      }
      const args = dnsmasqArgs(s, role);
      if (cur && cur.args.join("\0") === args.join("\0")) continue;
      if (!cur && existsSync(pidFile)) this.log.warn({ network: s.networkId, role }, "dnsmasq is no longer running: started again");
      if (cur) this.stop(cur.pid); // it must have let go of port 53 on the gateway before a new one binds it
      this.start(s, role, args);
    }
  }

  /** A dnsmasq of an older umld (one per network, as nobody, its own pid file): stopped, a jailed one replaces it. */
  private retireLegacy(networkId: string): void {
    const pidFile = this.file("legacy", networkId, "pid");
    const old = this.running(pidFile, (_pid, args) => args.includes(`--pid-file=${pidFile}`));
    if (!old) return;
    this.stop(old.pid);
    rmSync(pidFile, { force: true });
    this.log.info({ network: networkId }, "an older umld's dnsmasq stopped (replaced by a jailed one)");
  }

  private start(s: DnsSpec, role: DnsRole, args: string[]): void {
    const log = this.file(role, s.networkId, "log");
    writeFileSync(log, "", { mode: 0o600 }); // the launcher appends; a restart starts it afresh
    const spec = jailArgv(
      {
        root: this.jail.jailRoot,
        uid: s.uid,
        gid: s.uid,
        groups: [],
        cgroups: [],
        // TCP queries fork (at most 20 at a time); the log is its only file; no cgroup, so its address space is bounded (it uses ~20 MiB)
        rlimits: { core: [0, 0], nofile: [256, 256], nproc: [64, 64], fsize: [1 << 20, 1 << 20], as: [256 << 20, 256 << 20] },
        noAslr: false,
        readOnly: binaryFiles(DNSMASQ),
        readWrite: [],
        devices: ["/dev/null", "/dev/urandom"], // --conf-file=/dev/null; its random query ids
        tmpfs: [],
        dirs: [],
        ambientCaps: ROLE_CAPS[role],
        stderr: log,
        chdir: "/",
        command: DNSMASQ,
        args,
      },
      this.jail.launcher,
    );
    const child = spawn(spec.command, spec.args, { detached: true, stdio: "ignore", env: {} });
    const pid = child.pid;
    child.unref();
    if (!pid) throw new Error("dnsmasq: could not be started");
    // up once it says so (sockets bound, before its loop); an exit before that is a refusal, said on stderr
    for (let i = 0; i < 100; i++) {
      const said = readFileSync(log, "utf8");
      if (/started, version/.test(said)) {
        writeFileSync(this.file(role, s.networkId, "pid"), `${pid}\n`, { mode: 0o600 });
        this.log.info({ network: s.networkId, role, uid: s.uid, records: s.records.length }, "dnsmasq started");
        return;
      }
      if (!alive(pid)) throw new Error(`dnsmasq: ${said.trim().split("\n").pop() || "exited"}`);
      sleep(0.05);
    }
    this.killUid(s.uid);
    throw new Error(`dnsmasq: not up after 5 s: ${readFileSync(log, "utf8").trim().split("\n").pop() ?? ""}`);
  }

  /** The network goes: its processes (every one of its uid: a TCP child too, before the uid is anyone else's) and files. */
  remove(networkId: string, uid: number | null): void {
    this.retireLegacy(networkId);
    for (const role of ROLES) {
      const cur = uid === null ? null : this.running(this.file(role, networkId, "pid"), (pid) => processUid(pid) === uid);
      if (cur) this.stop(cur.pid);
      rmSync(this.file(role, networkId, "pid"), { force: true });
      rmSync(this.file(role, networkId, "log"), { force: true });
    }
    if (uid !== null) this.killUid(uid);
  }

  private stop(pid: number): void {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      return; // gone
    }
    for (let i = 0; i < 50 && alive(pid); i++) sleep(0.1);
    if (alive(pid)) process.kill(pid, "SIGKILL");
    for (let i = 0; i < 20 && alive(pid); i++) sleep(0.05);
  }

  /** Every process still running as the network's uid (which only its dnsmasq ever has). */
  private killUid(uid: number): void {
    for (const pid of pids()) {
      if (processUid(pid) !== uid) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
}

/** Running (a zombie not yet reaped by this process is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
