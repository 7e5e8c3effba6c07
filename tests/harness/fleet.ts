import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { leaveNothingOf, TestDaemon } from "./daemon.js";
import { freePort, TestEtcd } from "./etcd.js";

/** A fleet member under test: its daemon, name and fixed port (so it restarts at the address it advertised). */
export interface FleetHost {
  name: string;
  port: number;
  stateDir: string;
  guestIds: string;
  d: TestDaemon;
}

/**
 * A fleet on one machine: an etcd of its own (loopback, temp data) and N umld
 * daemons, each with its own state dir, listener, --guest-ids range (disjoint:
 * consecutive slots), and so its own cgroup parent, nftables table and bridge
 * names (all derived from the state dir). Stopped and removed by `stop`.
 */
export class TestFleet {
  readonly hosts: FleetHost[] = [];
  private constructor(
    readonly etcd: TestEtcd,
    readonly secretDir: string,
    readonly leaseTtlS: number,
  ) {}

  get secretFile(): string {
    return `${this.secretDir}/fleet.secret`;
  }

  static async start(names: string[], opts: { leaseTtlS?: number; extraArgs?: (name: string) => string[] } = {}): Promise<TestFleet> {
    const etcd = await TestEtcd.start();
    const secretDir = mkdtempSync("/tmp/umld-fleet-");
    writeFileSync(`${secretDir}/fleet.secret`, `${createHash("sha256").update(secretDir).update(String(Math.random())).digest("hex")}\n`, { mode: 0o600 });
    const f = new TestFleet(etcd, secretDir, opts.leaseTtlS ?? 2);
    try {
      const base = createHash("sha256").update(secretDir).digest().readUInt32BE(0) % 9_990;
      for (const [i, name] of names.entries()) {
        const first = 2_100_000_000 + (base + i) * 10_000;
        const stateDir = mkdtempSync(`/tmp/umld-t-${name}-`);
        const host: FleetHost = { name, port: await freePort(), stateDir, guestIds: `${first}-${first + 9_999}`, d: null as unknown as TestDaemon };
        host.d = await f.startDaemon(host, opts.extraArgs?.(name) ?? []);
        f.hosts.push(host);
      }
    } catch (e) {
      await f.stop();
      throw e;
    }
    return f;
  }

  args(h: Pick<FleetHost, "name" | "port" | "guestIds">, extra: string[] = []): string[] {
    const url = `http://127.0.0.1:${h.port}`;
    return [
      "--listen",
      `127.0.0.1:${h.port}`,
      "--guest-ids",
      h.guestIds,
      "--cluster-etcd",
      this.etcd.url,
      "--host-name",
      h.name,
      "--advertise",
      url,
      "--fleet-secret-file",
      this.secretFile,
      "--fleet-lease-ttl",
      String(this.leaseTtlS),
      ...extra,
    ];
  }

  private startDaemon(h: FleetHost, extra: string[], env?: Record<string, string>): Promise<TestDaemon> {
    return TestDaemon.start({ stateDir: h.stateDir, logLevel: "info", args: this.args(h, extra), env });
  }

  host(name: string): FleetHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no test host ${name}`);
    return h;
  }

  /** Starts a host again on its state dir and port (after a kill). */
  async restart(name: string, extra: string[] = [], env?: Record<string, string>): Promise<TestDaemon> {
    const h = this.host(name);
    h.d = await this.startDaemon(h, extra, env);
    return h.d;
  }

  async stop(): Promise<void> {
    for (const h of this.hosts) {
      try {
        if (h.d.proc.exitCode === null && h.d.proc.signalCode === null) await h.d.stop();
      } finally {
        leaveNothingOf(h.stateDir);
      }
    }
    await this.etcd.stop();
    rmSync(this.secretDir, { recursive: true, force: true });
  }
}
