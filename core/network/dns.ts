import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { ownerOfName } from "../tenants/principal.js";
import { parsePrefix6 } from "./address6.js";

export const DNSMASQ = "/usr/sbin/dnsmasq";

/** A guest's name on its network: `<instance>.<network>`, in its owner's names (a tenant's prefix is not part of it). */
export function dnsName(instance: string, network: string): string {
  return `${ownerOfName(instance).name}.${ownerOfName(network).name}`;
}

export interface DnsSpec {
  networkId: string;
  gateway: string;
  records: Array<{ name: string; ip: string }>;
  /** false: no DNS at all (a dnsmasq only for router advertisements) */
  names?: boolean;
  /** the network's IPv6 /64 and its bridge: router advertisements there (SLAAC, the host as router) */
  ra?: { bridge: string; prefix: string } | null;
}

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * dnsmasq's arguments for one network: only the gateway address, no
 * upstream, no hosts file, no DHCP: it answers `<instance>.<network>` for
 * the network's NICs and nothing else. On a network with an IPv6 prefix it
 * also sends router advertisements on the bridge (ra-only: addresses by
 * SLAAC, no DHCPv6). The records are on the command line, so a running
 * dnsmasq whose command line differs is stale (re-adoption).
 */
export function dnsmasqArgs(s: DnsSpec, pidFile: string): string[] {
  if (!IPV4.test(s.gateway)) throw new Error(`refusing address '${s.gateway}'`);
  const records = s.records.map((r) => {
    if (!NAME.test(r.name) || !IPV4.test(r.ip)) throw new Error(`refusing DNS record '${r.name}'`);
    return `--host-record=${r.name},${r.ip}`;
  });
  const ra: string[] = [];
  if (s.ra) {
    const p = parsePrefix6(s.ra.prefix);
    if ("problem" in p || !/^umlbr-[0-9a-f]{8}$/.test(s.ra.bridge)) throw new Error(`refusing router advertisements for '${s.ra.prefix}' on '${s.ra.bridge}'`);
    ra.push(`--interface=${s.ra.bridge}`, "--enable-ra", `--dhcp-range=${p.prefix.split("/")[0]},ra-only,64`, `--ra-param=${s.ra.bridge},high,10`, "--leasefile-ro");
  }
  const dns = s.names === false ? ["--port=0"] : [];
  return [
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--bind-interfaces",
    `--listen-address=${s.gateway}`,
    "--except-interface=lo",
    ...dns,
    ...ra,
    `--pid-file=${pidFile}`,
    ...records.sort(),
  ];
}

/**
 * One dnsmasq per host network that asks for names (`dns: true`) or has an IPv6 prefix: a daemon
 * of its own (it outlives umld like the bridge it serves), found again at
 * start by its pid file and kept when its command line is the one wanted;
 * otherwise it is stopped and started anew, so there is never a second.
 */
export class NetworkDns {
  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  private pidFile(networkId: string): string {
    if (!/^[0-9a-f]{16}$/.test(networkId)) throw new Error(`refusing network id '${networkId}'`);
    return join(this.dir, `dns-${networkId}.pid`);
  }

  /** The running dnsmasq of the network (its pid), if its pid file names one. */
  private running(networkId: string): { pid: number; args: string[] } | null {
    try {
      const pid = Number(readFileSync(this.pidFile(networkId), "utf8").trim());
      if (!Number.isInteger(pid) || pid <= 1) return null;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      if (cmd[0] !== DNSMASQ || !cmd.includes(`--pid-file=${this.pidFile(networkId)}`)) return null;
      return { pid, args: cmd.slice(1) };
    } catch {
      return null;
    }
  }

  ensure(s: DnsSpec): void {
    if (!existsSync(DNSMASQ)) throw new Error(`DNS names need ${DNSMASQ} (Debian package dnsmasq-base)`);
    const args = dnsmasqArgs(s, this.pidFile(s.networkId));
    const cur = this.running(s.networkId);
    if (cur && cur.args.join("\0") === args.join("\0")) return;
    if (cur) this.stop(cur.pid);
    const r = spawnSync(DNSMASQ, args, { encoding: "utf8", timeout: 10_000 });
    if (r.status !== 0) throw new Error(`dnsmasq: ${(r.stderr || r.error?.message || "failed").trim()}`);
    this.log.info({ network: s.networkId, records: s.records.length }, "dnsmasq started");
  }

  remove(networkId: string): void {
    const cur = this.running(networkId);
    if (cur) this.stop(cur.pid);
    rmSync(this.pidFile(networkId), { force: true });
  }

  private stop(pid: number): void {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      return; // gone
    }
    // it must have let go of port 53 on the gateway before a new one binds it
    for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) spawnSync("sleep", ["0.1"]);
  }
}
