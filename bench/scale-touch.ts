import type { TestDaemon } from "../tests/harness/daemon.js";

/**
 * In each guest, a process that takes `mib` MiB at once (every page written)
 * and exits: the guest frees it, the host still backs it until reclaimed.
 * Through the guests' consoles, 8 at a time. Returns how many did it.
 */
export async function touchAll(d: TestDaemon, names: string[], mib: number): Promise<number> {
  const queue = [...names];
  let done = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let n = queue.shift(); n; n = queue.shift()) {
        try {
          const con = await d.shell(n);
          try {
            if (/1\+0 records out/.test(await con.run(`dd if=/dev/zero of=/dev/null bs=${mib}M count=1 2>&1`, 30_000))) done++;
          } finally {
            con.close();
          }
        } catch (e) {
          process.stderr.write(`# touch ${n}: ${(e as Error).message.slice(0, 200)}\n`);
        }
      }
    }),
  );
  return done;
}
