import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";

/** A loopback TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A throwaway etcd (Debian's etcd-server) on loopback ports picked here, with
 * its data in a temp dir: started by a test, stopped and removed by it.
 */
export class TestEtcd {
  private constructor(
    readonly url: string,
    public proc: ChildProcess,
    readonly dataDir: string,
    private readonly log: string[],
    private readonly args: string[],
  ) {}

  private static spawn(args: string[], log: string[]): ChildProcess {
    const proc = spawn("etcd", args, { stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout!.on("data", (d) => log.push(String(d)));
    proc.stderr!.on("data", (d) => log.push(String(d)));
    return proc;
  }

  static async start(): Promise<TestEtcd> {
    const probe = spawnSync("etcd", ["--version"], { encoding: "utf8" });
    if (probe.status !== 0) throw new Error("etcd is not installed: run scripts/setup (Debian packages etcd-server, etcd-client)");
    const dataDir = mkdtempSync("/tmp/umld-etcd-");
    for (let attempt = 0; ; attempt++) {
      const [client, peer] = [await freePort(), await freePort()];
      const url = `http://127.0.0.1:${client}`;
      const args = [
        "--name",
        "test",
        "--data-dir",
        `${dataDir}/data${attempt}`,
        "--listen-client-urls",
        url,
        "--advertise-client-urls",
        url,
        "--listen-peer-urls",
        `http://127.0.0.1:${peer}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${peer}`,
        "--initial-cluster",
        `test=http://127.0.0.1:${peer}`,
        "--log-level",
        "error",
      ];
      const log: string[] = [];
      const e = new TestEtcd(url, TestEtcd.spawn(args, log), dataDir, log, args);
      if (await e.ready(15_000)) return e;
      await e.stop(false);
      if (attempt >= 2) {
        rmSync(dataDir, { recursive: true, force: true });
        throw new Error(`etcd did not start:\n${log.join("").slice(-2000)}`);
      }
    }
  }

  /** Waits until etcd answers a read (false: it exited or did not in time). */
  private async ready(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null) return false;
      try {
        const r = await fetch(`${this.url}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: "AA==" }), signal: AbortSignal.timeout(1000) });
        if (r.ok) return true;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** Stops etcd and starts it again on the same ports and data (clients see a broken stream, then the same store). */
  async restart(): Promise<void> {
    await this.stop(false);
    this.proc = TestEtcd.spawn(this.args, this.log);
    if (!(await this.ready(15_000))) throw new Error(`etcd did not start again:\n${this.log.join("").slice(-2000)}`);
  }

  async stop(removeData = true): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      await exited;
    }
    if (removeData) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
