import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { firewallRules, replaceTable } from "../../core/network/host-links.js";
import { segmentRules } from "../../core/network/segment-guard.js";
import { sh, until } from "../harness/host-net.js";

/**
 * Review of bridged networks (issue 16): the bridge guard umld puts on an
 * admin's bridge, checked on a copy of that setup made entirely in network
 * namespaces of the test's own (no UML needed: a veth end stands for the
 * guest's TAP, as the guard sees only the port). "host" holds the admin's
 * bridge, "guest" is behind the guest's port, "lan" is another machine on
 * the LAN. Nothing touches the host's own namespace.
 */
const H = "umlrv2-h";
const G = "umlrv2-g";
const L = "umlrv2-l";
const TAP = "umlt-00000000aa";
const GUEST_MAC = "fa:20:0a:f0:00:14";

const inNs = (ns: string, ...args: string[]) => sh("ip", ["netns", "exec", ns, ...args]);
/** A TCP connection from the guest's namespace, from `from`, to the LAN machine's server: "connected" or an error. */
const connect = (from: string, to: string) =>
  inNs(
    G,
    process.execPath,
    "-e",
    `const s = require("net").connect({ host: ${JSON.stringify(to)}, port: 7000, localAddress: ${JSON.stringify(from)} }, () => { console.log("connected"); s.destroy(); }); s.on("error", (e) => console.log(e.code)); setTimeout(() => { console.log("timeout"); process.exit(); }, 3000).unref();`,
  ).trim();

describe("review: the bridge guard on an admin's bridge (mode bridged)", { timeout: 60_000 }, () => {
  let server: ChildProcess | undefined;
  const cleanup = () => {
    server?.kill();
    for (const ns of [H, G, L]) {
      try {
        sh("ip", ["netns", "del", ns]);
      } catch {
        // not there
      }
    }
  };
  before(async () => {
    cleanup();
    for (const ns of [H, G, L]) sh("ip", ["netns", "add", ns]);
    inNs(H, "ip", "link", "add", "lanbr0", "type", "bridge");
    inNs(H, "ip", "link", "add", TAP, "type", "veth", "peer", "name", "eth0", "netns", G);
    inNs(H, "ip", "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", L);
    for (const port of [TAP, "uplink"]) inNs(H, "ip", "link", "set", port, "master", "lanbr0", "up");
    inNs(H, "ip", "link", "set", "lanbr0", "up");
    inNs(G, "ip", "link", "set", "eth0", "address", GUEST_MAC);
    for (const [ns, v4, v6] of [
      [G, "10.240.0.20/24", "fd00:240::20/64"],
      [L, "10.240.0.30/24", "fd00:240::30/64"],
    ] as const) {
      inNs(ns, "ip", "addr", "add", v4, "dev", "eth0");
      inNs(ns, "ip", "-6", "addr", "add", v6, "dev", "eth0", "nodad");
      inNs(ns, "ip", "link", "set", "eth0", "up");
      inNs(ns, "ip", "link", "set", "lo", "up");
    }
    // what host-side.ts applies to a bridged network (kind host: pinAddresses; bridged: lan)
    const rules = segmentRules({ table: "umld_00000000000000aa", bridge: "lanbr0", isolated: false, pinAddresses: true, lan: true, ports: [{ tap: TAP, mac: GUEST_MAC, ip: "10.240.0.20" }] });
    sh("ip", ["netns", "exec", H, "nft", "-f", "-"], rules);
    server = spawn("ip", ["netns", "exec", L, process.execPath, "-e", `require("net").createServer((c) => c.destroy()).listen(7000, "::", () => console.log("ready"))`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise((ok) => server!.stdout!.once("data", ok));
  });
  after(cleanup);

  it("the guard works for IPv4: the guest reaches the LAN from its address, not from a neighbour's", () => {
    assert.equal(connect("10.240.0.20", "10.240.0.30"), "connected", "its own address");
    inNs(G, "ip", "addr", "add", "10.240.0.99/32", "dev", "eth0");
    assert.equal(connect("10.240.0.99", "10.240.0.30"), "timeout", "a spoofed IPv4 source is dropped");
  });

  it("a guest sends the LAN no IPv6 from an address it was never given (spoofed source, router advertisements)", () => {
    inNs(G, "ip", "-6", "addr", "add", "fd00:240::99/128", "dev", "eth0", "nodad");
    assert.equal(connect("fd00:240::99", "fd00:240::30"), "timeout", "the LAN machine answered a connection from fd00:240::99, an address no one gave the guest");
  });
});

/**
 * A NATed network's port forward, on a copy of umld's table in namespaces of
 * the test's own: "fhost" has the network's bridge and the table, "fguest"
 * is behind the guest's port, "fout" is a client outside.
 */
describe("review: a removed port forward", { timeout: 60_000 }, () => {
  const [FH, FG, FO] = ["umlrv2-fh", "umlrv2-fg", "umlrv2-fo"];
  const TABLE = "umld_00000000000000bb";
  const BR = "umlbr-0000aabb";
  const forward = { protocol: "tcp" as const, listenAddress: null, listenPort: 47200, ip: "10.241.0.2", targetPort: 7000 };
  const table = (forwards: (typeof forward)[]) => replaceTable(TABLE, firewallRules({ table: TABLE, bridge: BR, subnet: "10.241.0.0/24", nat: true, forwards }));
  const children: ChildProcess[] = [];
  const got: string[] = [];
  const cleanup = () => {
    for (const c of children) c.kill();
    for (const ns of [FH, FG, FO]) {
      try {
        sh("ip", ["netns", "del", ns]);
      } catch {
        // not there
      }
    }
  };
  before(async () => {
    cleanup();
    for (const ns of [FH, FG, FO]) sh("ip", ["netns", "add", ns]);
    inNs(FH, "ip", "link", "add", BR, "type", "bridge");
    inNs(FH, "ip", "addr", "add", "10.241.0.1/24", "dev", BR);
    inNs(FH, "ip", "link", "add", "umlt-00000000bb", "type", "veth", "peer", "name", "eth0", "netns", FG);
    inNs(FH, "ip", "link", "set", "umlt-00000000bb", "master", BR, "up");
    inNs(FH, "ip", "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns", FO);
    inNs(FH, "ip", "addr", "add", "198.18.241.1/24", "dev", "wan0");
    for (const l of [BR, "wan0"]) inNs(FH, "ip", "link", "set", l, "up");
    inNs(FH, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
    for (const [ns, addr, via] of [
      [FG, "10.241.0.2/24", "10.241.0.1"],
      [FO, "198.18.241.2/24", null],
    ] as const) {
      inNs(ns, "ip", "addr", "add", addr, "dev", "eth0");
      inNs(ns, "ip", "link", "set", "eth0", "up");
      inNs(ns, "ip", "link", "set", "lo", "up");
      if (via) inNs(ns, "ip", "route", "add", "default", "via", via);
    }
    sh("ip", ["netns", "exec", FH, "nft", "-f", "-"], table([forward]));
    const server = spawn(
      "ip",
      ["netns", "exec", FG, process.execPath, "-e", `require("net").createServer((c) => c.on("data", (b) => process.stdout.write(b))).listen(7000, () => console.log("ready"))`],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(server);
    server.stdout!.on("data", (b: Buffer) => got.push(...b.toString().split("\n").filter(Boolean)));
    await until("the guest server", () => got.includes("ready") || undefined);
  });
  after(cleanup);

  const client = (lines: string[], gapMs: number) => {
    const c = spawn(
      "ip",
      [
        "netns",
        "exec",
        FO,
        process.execPath,
        "-e",
        `const s = require("net").connect(47200, "198.18.241.1"); const lines = ${JSON.stringify(lines)}; s.on("connect", () => { console.log("connected"); const next = () => { const l = lines.shift(); if (l === undefined) return s.end(); s.write(l + "\\n"); setTimeout(next, ${gapMs}); }; next(); }); s.on("error", (e) => console.log(e.code)); setTimeout(() => process.exit(), 8000).unref();`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(c);
    const out: string[] = [];
    c.stdout!.on("data", (b: Buffer) => out.push(...b.toString().split("\n").filter(Boolean)));
    return out;
  };

  it("ends the connections it let in, not only new ones", async () => {
    client(["before-removal", "after-removal"], 2500);
    await until("the first line through the forward", () => got.includes("before-removal") || undefined);
    sh("ip", ["netns", "exec", FH, "nft", "-f", "-"], table([])); // what removing the forward does: the table without it
    const fresh = client(["new-after-removal"], 100);
    await new Promise((r) => setTimeout(r, 4000));
    assert.ok(!got.includes("new-after-removal"), "a new connection after the removal is not forwarded (so the check below is not vacuous)");
    assert.ok(fresh.length === 0 || !fresh.includes("connected"), `fresh: ${fresh.join(",")}`);
    assert.ok(!got.includes("after-removal"), "the connection made while the forward existed still reaches the guest after its removal");
  });
});
