import { execFile } from "node:child_process";
import { enterArgv, type JailChange } from "../jail/jail-spec.js";

/**
 * Mounts added to or removed from the running guest's jail (hot-plugged disks,
 * NICs' helpers, channel ptys), one change at a time: the launcher enters the
 * process's mount namespace (`umld-jail --enter <pid>`).
 */
export class JailMounts {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly launcher: string,
    /** the guest's current process; legacy: started before jails, it has none */
    private readonly target: () => { pid: number; legacy: boolean },
  ) {}

  change(c: Omit<JailChange, "pid">): Promise<void> {
    const run = () =>
      new Promise<void>((resolve, reject) => {
        const { pid, legacy } = this.target();
        if (legacy) return reject(new Error("a guest started before jails cannot get new devices: restart it"));
        const { command, args } = enterArgv({ ...c, pid }, this.launcher);
        execFile(command, args, { timeout: 10_000 }, (err, _out, stderr) => {
          if (err)
            reject(
              new Error(
                String(stderr)
                  .trim()
                  .replace(/^umld-jail: /, "") || err.message,
              ),
            );
          else resolve();
        });
      });
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }
}
