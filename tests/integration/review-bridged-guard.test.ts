import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { segmentRules } from "../../core/network/segment-guard.js";
import { sh } from "../harness/host-net.js";

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
  inNs(G, process.execPath, "-e", `const s = require("net").connect({ host: ${JSON.stringify(to)}, port: 7000, localAddress: ${JSON.stringify(from)} }, () => { console.log("connected"); s.destroy(); }); s.on("error", (e) => console.log(e.code)); setTimeout(() => { console.log("timeout"); process.exit(); }, 3000).unref();`).trim();

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
    for (const [ns, v4, v6] of [[G, "10.240.0.20/24", "fd00:240::20/64"], [L, "10.240.0.30/24", "fd00:240::30/64"]] as const) {
      inNs(ns, "ip", "addr", "add", v4, "dev", "eth0");
      inNs(ns, "ip", "-6", "addr", "add", v6, "dev", "eth0", "nodad");
      inNs(ns, "ip", "link", "set", "eth0", "up");
      inNs(ns, "ip", "link", "set", "lo", "up");
    }
    // what host-side.ts applies to a bridged network (kind host: pinAddresses)
    const rules = segmentRules({ table: "umld_00000000000000aa", bridge: "lanbr0", isolated: false, pinAddresses: true, ports: [{ tap: TAP, mac: GUEST_MAC, ip: "10.240.0.20" }] });
    sh("ip", ["netns", "exec", H, "nft", "-f", "-"], rules);
    server = spawn("ip", ["netns", "exec", L, process.execPath, "-e", `require("net").createServer((c) => c.destroy()).listen(7000, "::", () => console.log("ready"))`], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((ok) => server!.stdout!.once("data", ok));
  });
  after(cleanup);

  it("the guard works for IPv4: the guest reaches the LAN from its address, not from a neighbour's", () => {
    assert.equal(connect("10.240.0.20", "10.240.0.30"), "connected", "its own address");
    inNs(G, "ip", "addr", "add", "10.240.0.99/32", "dev", "eth0");
    assert.equal(connect("10.240.0.99", "10.240.0.30"), "timeout", "a spoofed IPv4 source is dropped");
  });

  it("a guest sends the LAN no IPv6 from an address it was never given (spoofed source, router advertisements)", { todo: "the guard pins IPv4 and ARP only: every other ether type of the guest's reaches the admin's LAN" }, () => {
    inNs(G, "ip", "-6", "addr", "add", "fd00:240::99/128", "dev", "eth0", "nodad");
    assert.equal(connect("fd00:240::99", "fd00:240::30"), "timeout", "the LAN machine answered a connection from fd00:240::99, an address no one gave the guest");
  });
});
