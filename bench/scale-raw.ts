/**
 * Raw linux.uml guests for bench/scale.ts: launched by the bench itself, all
 * at once, with the same image, kernel, memory and boot options as umld's
 * (under setarch -R, posix_spawn'ed like umld's launcher), ready when the
 * image's init sends its readiness datagram.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { native, type NativeDgramSocket } from "../core/native.js";
import { defaultBootOptions, rawLaunch } from "../core/uml/argv.js";
import { createCow } from "../core/uml/cow.js";
import { decodeNotify } from "../core/uml/notify.js";

interface RawGuest {
  pid: number;
  sock: NativeDgramSocket;
  exited: Promise<void>;
}

export class RawGuests {
  private readonly guests: RawGuest[] = [];

  constructor(
    private readonly dir: string,
    private readonly image: string,
    private readonly memoryMiB: number,
  ) {
    mkdirSync(`${dir}/run`, { recursive: true });
  }

  /** Boots `n` guests at once; resolves with the milliseconds until the last was ready, and how many never were. */
  async bootAll(n: number, timeoutMs: number): Promise<{ ms: number; failed: number }> {
    const ready: Array<Promise<boolean>> = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) ready.push(this.boot(i, timeoutMs));
    const ok = await Promise.all(ready);
    return { ms: performance.now() - t0, failed: ok.filter((x) => !x).length };
  }

  private boot(i: number, timeoutMs: number): Promise<boolean> {
    const run = `${this.dir}/g${i}`;
    mkdirSync(`${run}/hostfs`, { recursive: true });
    const cow = `${run}/disk.cow`;
    createCow(cow, this.image);
    const notifyPath = `${run}/notify.sock`;
    let done!: (ok: boolean) => void;
    const ready = new Promise<boolean>((r) => (done = r));
    const timer = setTimeout(() => done(false), timeoutMs);
    const sock = new native.Socket((buf) => {
      const m = decodeNotify(buf);
      if (m.type === "user" && m.text.startsWith("umld:ready")) {
        clearTimeout(timer);
        done(true);
      }
    });
    sock.bind(notifyPath);
    const launch = rawLaunch({
      kernelPath: "/usr/bin/linux.uml",
      umid: `raw${i}`,
      umlDir: `${this.dir}/run`,
      memoryMiB: this.memoryMiB,
      rootCow: cow,
      rootBacking: this.image,
      notifySocket: notifyPath,
      hostname: `raw${i}`,
      hostfsDir: `${run}/hostfs`,
      bootOptions: defaultBootOptions(),
    });
    const devNull = openSync("/dev/null", "r+");
    let exitedNow!: () => void;
    const exited = new Promise<void>((r) => (exitedNow = r));
    const pid = native.spawnWatched("/usr/bin/setarch", [launch.command, ...launch.args], [`HOME=${run}`, "TMPDIR=/dev/shm", "PATH=/usr/bin:/bin"], [devNull, devNull, devNull], () => {
      exitedNow();
      clearTimeout(timer);
      done(false);
    });
    closeSync(devNull);
    this.guests.push({ pid, sock, exited });
    return ready;
  }

  /**
   * Proportional set size of every raw guest's processes (its RAM file is shared memory they map), in bytes.
   * A UML kernel and its helper threads are processes sharing one address space: each reports the same
   * rollup, so identical rollups within one guest's session count once.
   */
  pssBytes(): number {
    let total = 0;
    const seen = new Set<string>();
    for (const [pid, session] of this.allPids()) {
      try {
        const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
        const key = `${session} ${rollup.slice(rollup.indexOf("\n"))}`; // the first line names the range, the same for all
        if (seen.has(key)) continue;
        seen.add(key);
        total += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
      } catch {
        // gone
      }
    }
    return total;
  }

  /** The main pids and every process in their sessions (UML's helpers and guest processes), with their session. */
  private allPids(): Array<[number, number]> {
    const sessions = new Set(this.guests.map((g) => g.pid));
    const out: Array<[number, number]> = [];
    for (const e of readdirSync("/proc")
      .filter((x) => /^\d+$/.test(x))
      .map(Number)) {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (sessions.has(Number(f[3]))) out.push([e, Number(f[3])]);
      } catch {
        // gone
      }
    }
    return out;
  }

  /** Kills every raw guest (its whole session) and removes their files. */
  async killAll(): Promise<void> {
    for (const g of this.guests) {
      try {
        process.kill(-g.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await Promise.race([Promise.all(this.guests.map((g) => g.exited)), new Promise((r) => setTimeout(r, 10_000))]);
    for (const g of this.guests) g.sock.close();
    this.guests.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort (an interrupted bench): SIGKILL to every session, files removed. */
  killNow(): void {
    for (const g of this.guests) {
      try {
        process.kill(-g.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
