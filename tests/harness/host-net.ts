import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import Database from "better-sqlite3";

/** Host-side networking the tests look at and clean up: interfaces, nftables tables, namespaces. */

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

/** umld's bridges and TAPs on this host (all state dirs). */
export function umlLinks(): string[] {
  return sh("ip", ["-o", "link", "show"])
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && /^uml(br|t)-/.test(n));
}

export function umldTables(): string[] {
  return sh("nft", ["list", "tables"]).split("\n").map((l) => /^table ip (umld_\w+)/.exec(l.trim())?.[1]).filter((t): t is string => !!t);
}

/** What a state dir's database says umld made on the host. */
export function recordedHostPieces(stateDir: string): { links: string[]; tables: string[] } {
  const path = `${stateDir}/umld.db`;
  if (!existsSync(path)) return { links: [], tables: [] };
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const nets = db.prepare("SELECT id, host_if FROM networks WHERE kind = 'host'").all() as Array<{ id: string; host_if: string }>;
    const taps = db.prepare("SELECT host_if FROM nics WHERE host_if IS NOT NULL").all() as Array<{ host_if: string }>;
    return { links: [...taps.map((t) => t.host_if), ...nets.map((n) => n.host_if)], tables: nets.map((n) => `umld_${n.id}`) };
  } catch {
    return { links: [], tables: [] }; // a database from before host networks
  } finally {
    db.close();
  }
}

/** After a test daemon: remove the bridges, TAPs and tables its database names, and turn forwarding back. */
export function sweepHostNetworking(stateDir: string): void {
  const { links, tables } = recordedHostPieces(stateDir);
  for (const l of links) {
    try {
      sh("ip", ["link", "del", l]);
    } catch {
      // gone
    }
  }
  for (const t of tables) sh("nft", ["-f", "-"], `table ip ${t}\ndelete table ip ${t}\n`);
  if (existsSync(`${stateDir}/net/ip_forward.umld`)) sh("sysctl", ["-q", "-w", "net.ipv4.ip_forward=0"]);
}

export function ipForward(): string {
  return readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim();
}

/** A network namespace with one end of a veth pair; the other end stays on the host (optionally in a bridge). */
export class TestNamespace {
  constructor(
    readonly name: string,
    readonly hostEnd: string,
  ) {}

  static create(name: string, opts: { hostEnd: string; nsAddr: string; hostAddr?: string; bridge?: string; route?: string }): TestNamespace {
    const ns = new TestNamespace(name, opts.hostEnd);
    ns.destroy();
    sh("ip", ["netns", "add", name]);
    sh("ip", ["link", "add", opts.hostEnd, "type", "veth", "peer", "name", "vns0", "netns", name]);
    if (opts.bridge) sh("ip", ["link", "set", opts.hostEnd, "master", opts.bridge]);
    if (opts.hostAddr) sh("ip", ["addr", "add", opts.hostAddr, "dev", opts.hostEnd]);
    sh("ip", ["link", "set", opts.hostEnd, "up"]);
    ns.exec("ip", ["addr", "add", opts.nsAddr, "dev", "vns0"]);
    ns.exec("ip", ["link", "set", "vns0", "up"]);
    ns.exec("ip", ["link", "set", "lo", "up"]);
    if (opts.route) ns.exec("ip", ["route", "add", "default", "via", opts.route]);
    return ns;
  }

  exec(cmd: string, args: string[]): string {
    return sh("ip", ["netns", "exec", this.name, cmd, ...args]);
  }

  destroy(): void {
    try {
      sh("ip", ["link", "del", this.hostEnd]);
    } catch {
      // gone
    }
    try {
      sh("ip", ["netns", "del", this.name]);
    } catch {
      // gone
    }
  }
}
