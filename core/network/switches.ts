import { spawn } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, constants } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";

/**
 * One uml_switch process per switch network: started detached (its own
 * session, so it outlives the daemon like the guests on it), found again at
 * start through its pid file and command line, restarted if it dies.
 */
export class SwitchSupervisor {
  private timer: NodeJS.Timeout | null = null;
  private wanted = new Set<string>(); // network ids

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Where every switch's control socket is: bound read-only into the jails of guests with a switch NIC. */
  get socketsDir(): string {
    return this.dir;
  }

  ctlPath(id: string): string {
    return join(this.dir, id, "ctl");
  }

  /** Running (adopted or started). */
  ensure(id: string): number {
    this.wanted.add(id);
    const pid = this.livePid(id);
    if (pid) {
      try {
        chmodSync(this.ctlPath(id), 0o777); // a switch started before guests ran unprivileged
      } catch {
        // not there yet: a switch of ours makes it so
      }
      return pid;
    }
    const d = join(this.dir, id);
    mkdirSync(d, { recursive: true, mode: 0o711 });
    chmodSync(d, 0o711);
    rmSync(this.ctlPath(id), { force: true });
    const out = openSync(join(d, "switch.log"), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
    try {
      // umask 0: the control socket is born connectable by unprivileged guests (their data sockets
      // are abstract, with no permissions); the directory is 0711, so a guest reaches a socket it
      // is told the path of and lists nothing. sh execs, so the pid and command line are uml_switch's.
      const p = spawn("sh", ["-c", 'umask 000; exec "$0" "$@"', "uml_switch", "-unix", this.ctlPath(id)], { stdio: ["ignore", out, out], detached: true });
      p.unref();
      writeFileSync(join(d, "switch.pid"), `${p.pid}\n`);
      this.log.info({ network: id, pid: p.pid }, "switch started");
      return p.pid!;
    } finally {
      closeSync(out);
    }
  }

  /** Stops a network's switch (deleted, or no NIC left on it) and removes its files. */
  stop(id: string): void {
    this.wanted.delete(id);
    const pid = this.livePid(id);
    if (pid) {
      try {
        process.kill(pid, "SIGINT"); // SIGINT: uml_switch cleans up its socket
      } catch {
        // gone
      }
    }
    rmSync(join(this.dir, id), { recursive: true, force: true });
  }

  /** Watches the wanted switches; a dead one is started again (guests reconnect on their next NIC plug). */
  watch(everyMs = 2000): void {
    this.timer = setInterval(() => {
      for (const id of this.wanted) {
        if (!this.livePid(id)) {
          this.log.error({ network: id }, "switch process died; starting it again");
          this.ensure(id);
        }
      }
    }, everyMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  livePid(id: string): number | null {
    const pidFile = join(this.dir, id, "switch.pid");
    if (!existsSync(pidFile)) return null;
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
      return argv.includes(this.ctlPath(id)) ? pid : null;
    } catch {
      return null;
    }
  }
}
