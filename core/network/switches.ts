import { spawn } from "node:child_process";
import { closeSync, constants, existsSync, fchmodSync, fchownSync, mkdirSync, openSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { cgroupDirs, createCgroup, killCgroup, removeCgroup, type CgroupLayout } from "../jail/cgroups.js";
import { binaryFiles } from "../jail/binary-files.js";
import { jailArgv } from "../jail/jail-spec.js";
import { cmdline, processesMatching, processUid } from "../host/procfs.js";
import { native } from "../native.js";

export const UML_SWITCH = "/usr/bin/uml_switch";

/** How switches are jailed: each runs as its network's own uid, in its own cgroup. */
export interface SwitchJail {
  launcher: string;
  jailRoot: string;
  cgroups: CgroupLayout | null;
  /** the network's host uid (gid = uid) */
  uidOf(networkId: string): number;
}

/**
 * One uml_switch per switch network, jailed like a guest: it runs as the
 * network's own uid with nothing in its jail but its socket directory and
 * its binary, in a cgroup of its own; started detached (its own session, so
 * it outlives the daemon like the guests on it), found again at start through
 * its pid file, command line and uid, restarted if it dies.
 *
 *   <net>/<id>/           root 0711: switch.pid, switch.log (root 0600)
 *   <net>/<id>/sock/      the switch's uid, 0700, plus an ACL: only the uids of
 *   <net>/<id>/sock/ctl   the guests with a NIC on the network may reach and use its control socket
 *
 * Guests with a switch NIC get <net> bound read-only into their jails.
 */
export class SwitchSupervisor {
  private timer: NodeJS.Timeout | null = null;
  /** network id → the guest uids that may connect */
  private wanted = new Map<string, number[]>();

  constructor(
    private readonly dir: string,
    private readonly jail: SwitchJail,
    private readonly log: Logger,
  ) {}

  /** Where every switch's control socket is: bound read-only into the jails of guests with a switch NIC. */
  get socketsDir(): string {
    return this.dir;
  }

  ctlPath(id: string): string {
    return join(this.dir, id, "sock", "ctl");
  }

  /** Running (adopted or started), reachable by exactly these guest uids. */
  ensure(id: string, guestUids: number[]): number {
    this.wanted.set(id, guestUids);
    const pid = this.livePid(id);
    if (pid) {
      this.grant(id, guestUids);
      return pid;
    }
    this.stopLegacy(id);
    const uid = this.jail.uidOf(id);
    const d = join(this.dir, id);
    const sock = join(d, "sock");
    mkdirSync(d, { recursive: true, mode: 0o711 });
    own(d, 0, 0o711);
    try {
      mkdirSync(sock, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    own(sock, uid, 0o700);
    quietly(() => unlinkSync(this.ctlPath(id))); // a stale socket of a switch that died
    this.grant(id, guestUids);
    const cgroup = `net-${id}`;
    if (this.jail.cgroups) createCgroup(this.jail.cgroups, cgroup, { memoryBytes: 64 * 1024 * 1024, pids: 16, cpuWeight: null });
    const launch = jailArgv(
      {
        root: this.jail.jailRoot, uid, gid: uid, groups: [],
        cgroups: this.jail.cgroups ? cgroupDirs(this.jail.cgroups, cgroup) : [],
        rlimits: { core: [0, 0], nofile: [1024, 1024], nproc: [16, 16] },
        noAslr: false, readOnly: binaryFiles(UML_SWITCH), readWrite: [sock], devices: [], tmpfs: [], dirs: [],
        umask: 0o007, chdir: sock, command: UML_SWITCH, args: ["-unix", this.ctlPath(id)],
      },
      this.jail.launcher,
    );
    const out = openSync(join(d, "switch.log"), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
    try {
      const p = spawn(launch.command, launch.args, { stdio: ["ignore", out, out], detached: true, env: { PATH: "/usr/bin:/bin" } });
      p.unref();
      writeFileSync(join(d, "switch.pid"), `${p.pid}\n`, { mode: 0o600 });
      this.log.info({ network: id, pid: p.pid, uid }, "switch started");
      return p.pid!;
    } finally {
      closeSync(out);
    }
  }

  /**
   * Who may connect: the socket directory's ACL (traverse) and its default ACL
   * (inherited by the socket uml_switch binds), and the socket's own ACL when
   * it exists. lsetxattr never follows a symlink the switch's uid could plant.
   */
  grant(id: string, guestUids: number[]): void {
    const uids = [...new Set(guestUids)].sort((a, b) => a - b);
    if (this.wanted.has(id)) this.wanted.set(id, uids);
    const sock = join(this.dir, id, "sock");
    try {
      native.setAcl(sock, "access", { user: 7, group: 0, other: 0, users: uids.map((u) => [u, 1]) });
      native.setAcl(sock, "default", { user: 6, group: 0, other: 0, users: uids.map((u) => [u, 6]) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // not made yet: ensure() grants
      throw e;
    }
    try {
      native.setAcl(this.ctlPath(id), "access", { user: 6, group: 0, other: 0, users: uids.map((u) => [u, 6]) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e; // bound a moment later: it inherits the default ACL
    }
  }

  /**
   * Resolves once the switch's control socket is there: a guest whose NIC
   * connects before uml_switch has bound it gets a dead interface (UML still
   * answers OK). Right after a start this takes a few milliseconds.
   */
  async whenReady(id: string, timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!existsSync(this.ctlPath(id))) {
      if (Date.now() > until) throw new Error(`the switch of network ${id} did not open its control socket within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Stops a network's switch (deleted, or no NIC left on it) and removes its files, by name, never recursively. */
  stop(id: string): void {
    this.wanted.delete(id);
    const pid = this.livePid(id);
    if (pid) quietly(() => process.kill(pid, "SIGKILL"));
    if (this.jail.cgroups) {
      killCgroup(this.jail.cgroups, `net-${id}`);
      removeCgroup(this.jail.cgroups, `net-${id}`);
    }
    this.stopLegacy(id);
    const d = join(this.dir, id);
    quietly(() => unlinkSync(this.ctlPath(id)));
    quietly(() => rmdirSync(join(d, "sock")));
    for (const f of ["switch.pid", "switch.log", "ctl"]) quietly(() => unlinkSync(join(d, f)));
    quietly(() => rmdirSync(d));
  }

  /** Watches the wanted switches; a dead one is started again (guests reconnect on their next NIC plug). */
  watch(everyMs = 2000): void {
    this.timer = setInterval(() => {
      for (const [id, uids] of this.wanted) {
        if (!this.livePid(id)) {
          this.log.error({ network: id }, "switch process died; starting it again");
          this.ensure(id, uids);
        }
      }
    }, everyMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The switch's pid: from its pid file, with its control socket on its command line and the network's uid. */
  livePid(id: string): number | null {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.dir, id, "switch.pid"), "utf8").trim());
    } catch {
      return null;
    }
    const argv = cmdline(pid);
    return argv?.includes(this.ctlPath(id)) && processUid(pid) === this.jail.uidOf(id) ? pid : null;
  }

  /** A switch an older umld started as root, with its socket at <net>/<id>/ctl: replaced by a jailed one. */
  private stopLegacy(id: string): void {
    const old = join(this.dir, id, "ctl");
    for (const pid of processesMatching((argv) => (argv[0]?.endsWith("uml_switch") ?? false) && argv.includes(old))) {
      quietly(() => process.kill(pid, "SIGINT"));
      this.log.warn({ network: id, pid }, "stopped a switch started before switches were jailed; its guests reconnect when restarted");
    }
  }
}

/** A directory made `uid`'s with `mode`, refusing a symlink in its place (its parent is root's). */
function own(dir: string, uid: number, mode: number): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    fchownSync(fd, uid, uid);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // absent already
  }
}
