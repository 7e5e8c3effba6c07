import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { guestFilterRules } from "../../core/network/guest-filter.js";
import { sh, until } from "../harness/host-net.js";

/**
 * Review of issue 16's promise that a NATed guest is "reached from outside
 * only through port forwards", against guests whose host processes run in
 * the host's namespace: a user network's slirp (or an escaped guest) of
 * uid 2000000005. Made in namespaces of the test's own: "host" has a NATed
 * network's bridge and umld's guest filter, "nat" is another tenant's guest
 * behind it. No UML needed: the filter sees only the socket's uid.
 */
const HOST = "umlrv2-sh";
const NAT = "umlrv2-sn";
const GUEST_UID = 2000000005;

const inNs = (ns: string, ...args: string[]) => sh("ip", ["netns", "exec", ns, ...args]);
/** A TCP connection made from the host's namespace as the guest's uid: "connected", an error code, or "timeout". */
const connectAsGuest = (host: string, port: number) =>
  inNs(
    HOST,
    "setpriv",
    `--reuid=${GUEST_UID}`,
    `--regid=${GUEST_UID}`,
    "--clear-groups",
    process.execPath,
    "-e",
    `const s = require("net").connect(${port}, ${JSON.stringify(host)}, () => { console.log("connected"); s.destroy(); }); s.on("error", (e) => console.log(e.code)); setTimeout(() => { console.log("timeout"); process.exit(); }, 3000).unref();`,
  ).trim();

describe("review: a user network's guest and another tenant's NATed guest", { timeout: 60_000 }, () => {
  const servers: ChildProcess[] = [];
  const cleanup = () => {
    for (const s of servers) s.kill();
    for (const ns of [HOST, NAT]) {
      try {
        sh("ip", ["netns", "del", ns]);
      } catch {
        // not there
      }
    }
  };
  const serve = async (ns: string, host: string, port: number) => {
    const p = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", `require("net").createServer((c) => c.destroy()).listen(${port}, ${JSON.stringify(host)}, () => console.log("ready"))`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    servers.push(p);
    let ready = false;
    p.stdout!.once("data", () => (ready = true));
    await until(`a server on ${host}:${port}`, () => ready || undefined);
  };
  before(async () => {
    cleanup();
    for (const ns of [HOST, NAT]) sh("ip", ["netns", "add", ns]);
    inNs(HOST, "ip", "link", "add", "umlbr-0000aacc", "type", "bridge");
    inNs(HOST, "ip", "addr", "add", "10.242.0.1/24", "dev", "umlbr-0000aacc");
    inNs(HOST, "ip", "link", "add", "umlt-00000000cc", "type", "veth", "peer", "name", "eth0", "netns", NAT);
    inNs(HOST, "ip", "link", "set", "umlt-00000000cc", "master", "umlbr-0000aacc", "up");
    for (const l of ["umlbr-0000aacc", "lo"]) inNs(HOST, "ip", "link", "set", l, "up");
    inNs(NAT, "ip", "addr", "add", "10.242.0.2/24", "dev", "eth0");
    for (const l of ["eth0", "lo"]) inNs(NAT, "ip", "link", "set", l, "up");
    inNs(NAT, "ip", "route", "add", "default", "via", "10.242.0.1");
    // a guest with a NIC on a user network (egress_ok), no hostAccess: what umld gives it
    const rules = guestFilterRules({ table: "umld_guests_0000000000cc", range: { first: 2000000000, count: 100 }, uids: [], hostOk: [], egressOk: [GUEST_UID], resolvers: [] });
    sh("ip", ["netns", "exec", HOST, "nft", "-f", "-"], rules);
    await serve(HOST, "10.242.0.1", 7001);
    await serve(NAT, "10.242.0.2", 7000);
  });
  after(cleanup);

  it("the filter holds for the host's own addresses (so the next check is not vacuous)", () => {
    assert.notEqual(connectAsGuest("10.242.0.1", 7001), "connected");
  });

  it("reaches another network's NATed guest only through a forward", () => {
    assert.notEqual(connectAsGuest("10.242.0.2", 7000), "connected", "a user network's guest reached a NATed guest at its private address, no forward");
  });
});
