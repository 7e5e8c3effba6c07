import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import Database from "better-sqlite3";
import { guestTableName } from "../../core/network/guest-filter.js";
import { ifbName, replaceTable } from "../../core/network/host-links.js";
import { replaceSegmentTables } from "../../core/network/segment-guard.js";

/** Host-side networking the tests look at and clean up: interfaces, nftables tables, namespaces. */

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

/** umld's bridges, TAPs and IFBs on this host (all state dirs). */
export function umlLinks(): string[] {
  return sh("ip", ["-o", "link", "show"])
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && /^uml(br|t|q)-/.test(n));
}

/** umld's nftables tables on this host (all state dirs): networks' (a name once per family) and guest filters. */
export function umldTables(): string[] {
  return sh("nft", ["list", "tables"])
    .split("\n")
    .map((l) => /^table (?:ip|inet|bridge|netdev) (umld_\w+)/.exec(l.trim())?.[1])
    .filter((t): t is string => !!t);
}

/** The families a table of this name exists in ("ip" from versions before the inet tables). */
export function tableFamilies(table: string): string[] {
  return sh("nft", ["list", "tables"])
    .split("\n")
    .map((l) => l.trim().split(" "))
    .filter((f) => f[2] === table)
    .map((f) => f[1]!);
}

/** The guest filter's table of a state dir (present from the daemon's first start until swept). */
export function guestTable(stateDir: string): string {
  return guestTableName(stateDir);
}

/** What a state dir's database says umld made on the host (every network's table names, in any family). */
export function recordedHostPieces(stateDir: string): { links: string[]; tables: string[] } {
  const path = `${stateDir}/umld.db`;
  if (!existsSync(path)) return { links: [], tables: [] };
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const nets = db.prepare("SELECT id, host_if FROM networks WHERE host_if IS NOT NULL").all() as Array<{ id: string; host_if: string }>;
    const taps = db.prepare("SELECT id, host_if FROM nics WHERE host_if IS NOT NULL").all() as Array<{ id: string; host_if: string }>;
    return { links: [...taps.flatMap((t) => [ifbName(t.id), t.host_if]), ...nets.map((n) => n.host_if)], tables: nets.map((n) => `umld_${n.id}`) };
  } catch {
    return { links: [], tables: [] }; // a database from before host networks
  } finally {
    db.close();
  }
}

/** After a test daemon: remove the bridges, TAPs and tables its database names, its guest filter, and turn forwarding back. */
export function sweepHostNetworking(stateDir: string): void {
  const { links, tables } = recordedHostPieces(stateDir);
  for (const l of links) {
    try {
      sh("ip", ["link", "del", l]);
    } catch {
      // gone
    }
  }
  for (const t of tables) sh("nft", ["-f", "-"], replaceTable(t, "") + replaceSegmentTables(t, ""));
  // a network's dnsmasq (DNS names): by the pid file umld gave it under this state dir
  for (const f of existsSync(`${stateDir}/net`) ? readdirSync(`${stateDir}/net`).filter((x) => /^dns-[0-9a-f]{16}\.pid$/.test(x)) : []) {
    try {
      const pid = Number(readFileSync(`${stateDir}/net/${f}`, "utf8").trim());
      if (pid > 1 && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`--pid-file=${stateDir}/net/${f}`)) process.kill(pid, "SIGTERM");
    } catch {
      // gone
    }
  }
  sh("nft", ["-f", "-"], `table inet ${guestTable(stateDir)}\ndelete table inet ${guestTable(stateDir)}\n`);
  if (existsSync(`${stateDir}/net/ip_forward.umld`)) sh("sysctl", ["-q", "-w", "net.ipv4.ip_forward=0"]);
}

/** The rules of one chain of an nft ruleset text, trimmed, in order. */
export function chain(ruleset: string, name: string): string[] {
  const m = new RegExp(`\\n  chain ${name} \\{\\n([\\s\\S]*?)\\n  \\}`).exec(ruleset);
  if (!m) throw new Error(`no chain ${name} in:\n${ruleset}`);
  return m[1]!.split("\n").map((l) => l.trim());
}

/** A reason to skip kernel-checked ruleset tests (`nft -c` needs nft and CAP_NET_ADMIN), or false. */
export function nftCheckSkip(): string | false {
  try {
    execFileSync("nft", ["-c", "-f", "-"], { input: "table inet umld_probe\n", stdio: ["pipe", "pipe", "pipe"] });
    return false;
  } catch {
    return "nft -c is not available here";
  }
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

/** A TCP server on the host that records "<peer address> <first line>" for each connection; port 0: any free one. */
export function tcpRecorder(host: string, port = 0): { server: Server; got: string[]; ready: Promise<number> } {
  const got: string[] = [];
  const server = createServer((s) => {
    let data = "";
    s.on("data", (b) => (data += b.toString()));
    s.on("end", () => {
      got.push(`${s.remoteAddress} ${data.trim()}`);
      s.end();
    });
    s.on("error", () => {});
  });
  return { server, got, ready: new Promise((r) => server.listen(port, host, () => r((server.address() as AddressInfo).port))) };
}

/** The same inside a namespace: a node process there, printing one line per connection. */
export function nsTcpRecorder(ns: TestNamespace, port: number, host = "0.0.0.0"): { proc: ChildProcess; lines: () => string[]; ready: Promise<void> } {
  const code = `require("net").createServer((s) => { let d = ""; s.on("data", (b) => d += b); s.on("error", () => {}); s.on("end", () => { console.log(s.remoteAddress + " " + d.trim()); s.end(); }); }).listen(${port}, ${JSON.stringify(host)}, () => console.log("listening"));`;
  const proc = spawn("ip", ["netns", "exec", ns.name, process.execPath, "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const ready = new Promise<void>((resolve) => {
    proc.stdout!.on("data", (b) => {
      out += b.toString();
      if (out.includes("listening")) resolve();
    });
  });
  return { proc, lines: () => out.split("\n").filter((l) => l && l !== "listening"), ready };
}

export async function until<T>(what: string, f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The dnsmasq processes umld runs for a state dir's networks, found by the pid files it writes there (`dns-…`, `ra-…`). */
export function dnsmasqOf(stateDir: string): Array<{ pid: number; role: string; uid: number; capEff: string }> {
  const out: Array<{ pid: number; role: string; uid: number; capEff: string }> = [];
  let files: string[] = [];
  try {
    files = readdirSync(`${stateDir}/net`).filter((f) => /^(dns|ra)-[0-9a-f]{16}\.pid$/.test(f));
  } catch {
    return out;
  }
  for (const f of files) {
    try {
      const pid = Number(readFileSync(`${stateDir}/net/${f}`, "utf8").trim());
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] !== "/usr/sbin/dnsmasq") continue;
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      out.push({ pid, role: f.split("-")[0]!, uid: Number(/^Uid:\s+(\d+)/m.exec(status)![1]), capEff: /^CapEff:\s+(\S+)/m.exec(status)![1]! });
    } catch {
      // gone
    }
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/** Whether a process is still running. */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** From inside a namespace: a DNS query for `name` over UDP or TCP; prints "answer <n bytes>" or "timeout"/"error <code>". */
export function nsDnsQuery(ns: TestNamespace, server: string, name: string, proto: "udp" | "tcp"): string {
  const q = `const l = ${JSON.stringify(name)}.split(".").flatMap((p) => [p.length, ...Buffer.from(p)]); const q = Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...l, 0, 0, 1, 0, 1]);`;
  const done = `const done = (s) => { console.log(s); process.exit(); }; setTimeout(() => done("timeout"), 3000);`;
  const code =
    proto === "udp"
      ? `${q} ${done} const s = require("dgram").createSocket("udp4"); s.on("message", (m) => done("answer " + m.length)); s.on("error", (e) => done("error " + e.code)); s.send(q, 53, ${JSON.stringify(server)});`
      : `${q} ${done} const s = require("net").connect(53, ${JSON.stringify(server)}, () => { const b = Buffer.alloc(2); b.writeUInt16BE(q.length); s.write(Buffer.concat([b, q])); }); s.on("data", (m) => done("answer " + m.length)); s.on("error", (e) => done("error " + e.code)); s.on("end", () => done("closed"));`;
  return ns.exec(process.execPath, ["-e", code]).trim();
}
