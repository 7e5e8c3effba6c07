/**
 * Every path a guest's traffic takes, in one run, beside two baselines
 * measured in the same run: host loopback and a veth pair between two network
 * namespaces. For each path: TCP throughput with one and four streams, and
 * UDP round trips (p50/p99 of 200 pings). One static tool (bench/netbench.c)
 * does it everywhere: on the host, in the namespaces and in the guests (an
 * image with it is imported for the run), so the figures compare paths, not
 * tools. Not a test: it prints a table and ratios against the veth pair.
 *
 *   node dist/bench/net.js [--mb N]
 *
 * Traffic stays on this machine: loopback, the bench's own namespaces and
 * umld's bridges. Subnets 10.251.1-9.0/24 must be free on the host.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { REPO, TestDaemon, type ConsoleClient } from "../tests/harness/daemon.js";
import { netbenchImage } from "../tests/harness/fixtures.js";
import { TestNamespace } from "../tests/harness/host-net.js";

const { values } = parseArgs({ options: { mb: { type: "string", default: "128" } } });
const MB = Math.max(8, Number(values.mb));
const PINGS = 200;
const PORT = 5001;

interface Row {
  path: string;
  one: number | null;
  four: number | null;
  p50: number | null;
  p99: number | null;
  note?: string;
}

/** "tcp bytes=… secs=… MBps=X" / "rtt n=… p50us=A p99us=B" of netbench's output. */
function parseTcp(out: string): number | null {
  const m = /tcp bytes=\d+ secs=[\d.]+ MBps=([\d.]+)(?! FAILED)/.exec(out);
  return m && !/FAILED/.test(out) ? Number(m[1]) : null;
}
function parseRtt(out: string): { p50: number; p99: number } | null {
  const m = /rtt n=(\d+) lost=\d+ p50us=(\d+) p99us=(\d+)/.exec(out);
  return m && Number(m[1]) > 0 ? { p50: Number(m[2]), p99: Number(m[3]) } : null;
}

/** One path measured by a runner (a guest shell, the host, a namespace): 1 and 4 streams, then pings. */
async function measure(path: string, run: (args: string) => Promise<string>, host: string, mode: "send" | "recv" = "send"): Promise<Row> {
  const runLogged = async (args: string) => {
    const out = await run(args);
    if (!/^(tcp|rtt) /m.test(out) || /FAILED/.test(out)) console.error(`# ${path}: netbench ${args}: ${out.trim()}`);
    return out;
  };
  const one = parseTcp(await runLogged(`tcp ${host} ${PORT} ${mode} ${MB} 1`));
  const four = parseTcp(await runLogged(`tcp ${host} ${PORT} ${mode} ${MB} 4`));
  const rtt = parseRtt(await runLogged(`ping ${host} ${PORT} ${PINGS}`));
  const row = { path, one, four, p50: rtt?.p50 ?? null, p99: rtt?.p99 ?? null };
  console.error(`# ${JSON.stringify(row)}`);
  return row;
}

function hostRunner(tool: string, ns?: string): (args: string) => Promise<string> {
  return async (args) => {
    const argv = [tool, ...args.split(" ")];
    try {
      return ns ? execFileSync("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8", timeout: 600_000 }) : execFileSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 600_000 });
    } catch (e) {
      return String((e as { stdout?: string }).stdout ?? "");
    }
  };
}

function guestRunner(con: ConsoleClient): (args: string) => Promise<string> {
  return (args) => con.run(`netbench ${args}`, 600_000);
}

function serve(tool: string, ns?: string): ChildProcess {
  const argv = ns ? (["ip", ["netns", "exec", ns, tool, "serve", String(PORT)]] as const) : ([tool, ["serve", String(PORT)]] as const);
  return spawn(argv[0], [...argv[1]], { stdio: "ignore" });
}

async function ok<T>(what: string, r: Promise<{ status: number; body: T }>): Promise<T> {
  const res = await r;
  if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

function table(rows: Row[], veth: Row): string {
  const f = (n: number | null, d = 1) => (n === null ? "-" : n.toFixed(d));
  const ratio = (n: number | null, base: number | null) => (n === null || !base ? "-" : (n / base).toFixed(3));
  const lines = [
    "| path | TCP 1 stream MB/s | TCP 4 streams MB/s | UDP ping p50 µs | p99 µs | 1 stream / veth | 4 streams / veth |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => `| ${r.path} | ${f(r.one)} | ${f(r.four)} | ${f(r.p50, 0)} | ${f(r.p99, 0)} | ${ratio(r.one, veth.one)} | ${ratio(r.four, veth.four)} |`),
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const work = mkdtempSync("/tmp/umld-bench-net-");
  let tool = "";
  const tag = String(process.pid % 100000);
  const ns = {
    a: new TestNamespace(`umldb-${tag}-a`, `umldb${tag}a`),
    nat: new TestNamespace(`umldb-${tag}-n`, `umldb${tag}n`),
  };
  const nsB = `umldb-${tag}-b`;
  const servers: ChildProcess[] = [];
  const rows: Row[] = [];
  let d: TestDaemon | undefined;
  try {
    TestNamespace.create(ns.a.name, { hostEnd: ns.a.hostEnd, nsAddr: "10.251.8.1/24" });
    TestNamespace.create(ns.nat.name, { hostEnd: ns.nat.hostEnd, nsAddr: "10.251.9.2/24", hostAddr: "10.251.9.1/24" });
    // the veth baseline: a pair between two namespaces, moved from the host into them
    execFileSync("ip", ["netns", "add", nsB]);
    execFileSync("ip", ["link", "set", ns.a.hostEnd, "netns", nsB]);
    execFileSync("ip", ["-n", nsB, "addr", "add", "10.251.8.2/24", "dev", ns.a.hostEnd]);
    execFileSync("ip", ["-n", nsB, "link", "set", ns.a.hostEnd, "up"]);
    d = await TestDaemon.start({ logLevel: "info" });
    tool = await netbenchImage(d, "netbench", work);
    await ok("switch network", d.api("POST", "/v1/networks", { name: "sw", kind: "switch", subnet: "10.251.1.0/24" }));
    await ok("host network", d.api("POST", "/v1/networks", { name: "hn", kind: "host", subnet: "10.251.2.0/24" }));
    await ok("NAT network", d.api("POST", "/v1/networks", { name: "nat", kind: "host", subnet: "10.251.3.0/24", nat: true }));
    const ip: Record<string, string> = {};
    for (const [vm, nets] of [
      ["g1", ["sw", "hn", "nat"]],
      ["g2", ["sw", "hn"]],
    ] as const) {
      await ok(vm, d.api("POST", "/v1/instances", { name: vm, memoryMiB: 128, image: "netbench" }));
      for (const n of nets) ip[`${vm}.${n}`] = (await ok(`${vm} nic`, d.api("POST", `/v1/instances/${vm}/nics`, { network: n }))).ip;
      await d.mustAct(vm, "start");
    }
    const g1 = await d.shell("g1");
    const g2 = await d.shell("g2");
    for (const c of [g1, g2]) c.type(`netbench serve ${PORT} > /dev/null 2>&1 &\n`);
    servers.push(serve(tool), serve(tool, ns.a.name), serve(tool, ns.nat.name));
    await new Promise((r) => setTimeout(r, 1000));
    await g1.runUntil(`ping -c 1 -W 1 ${ip["g2.sw"]}`, / 0% packet loss/, 20_000);

    const veth = await measure("veth pair between two namespaces (baseline)", hostRunner(tool, nsB), "10.251.8.1");
    rows.push(await measure("host loopback (baseline)", hostRunner(tool), "127.0.0.1"));
    rows.push(veth);
    rows.push(await measure("guest → guest, switch network", guestRunner(g1), ip["g2.sw"]!));
    rows.push(await measure("guest → guest, host network (bridge)", guestRunner(g1), ip["g2.hn"]!));
    rows.push(await measure("host → guest, host network", hostRunner(tool), ip["g1.hn"]!, "send"));
    rows.push(await measure("guest → host, host network", hostRunner(tool), ip["g1.hn"]!, "recv"));
    rows.push(await measure("guest → namespace behind NAT", guestRunner(g1), "10.251.9.2"));
    for (const c of [g1, g2]) c.close();

    const view = (await d.api("GET", "/v1/networks")).body.networks as Array<{ name: string; kind: string; bridge: string | null; switchPid: number | null }>;
    console.log(
      `umld ${execFileSync("git", ["-C", REPO, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim()}, ${MB} MiB per TCP run, ${PINGS} UDP pings, kernel ${execFileSync("linux.uml", ["--version"], { encoding: "utf8" }).trim()}`,
    );
    console.log(`networks: ${view.map((n) => `${n.name}=${n.kind}${n.switchPid ? " (uml_switch)" : ""}${n.bridge ? ` (bridge ${n.bridge})` : ""}`).join(", ")}`);
    console.log(table(rows, veth));
  } finally {
    for (const s of servers) s.kill("SIGKILL");
    await d?.stop();
    ns.a.destroy();
    ns.nat.destroy();
    try {
      execFileSync("ip", ["netns", "del", nsB]);
    } catch {
      // gone
    }
    rmSync(work, { recursive: true, force: true });
  }
}

void main();
