import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { REPO, TestDaemon } from "../harness/daemon.js";
import { sh } from "../harness/host-net.js";

/**
 * Review finding: on a host network a port may send IPv4 and ARP only from
 * its NIC's address, by rules that match `ether type ip` / `ether type arp`.
 * A frame with an 802.1Q priority tag (VLAN id 0) has ether type 0x8100, so
 * none of them matches; the host then clears the tag (VLAN 0 is "untagged"
 * with a priority) and takes the ARP as it is. A guest (root inside it is
 * enough: a packet socket; here its uid holding its TAP) claims a neighbour's
 * address and the host's traffic for that neighbour comes to its own MAC.
 * The guard now drops tagged frames from a host network's ports.
 */
describe("review: a priority-tagged ARP past a host network's address pin", { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let dir = "";
  let bridge = "";
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    dir = mkdtempSync("/tmp/umld-review-");
    chmodSync(dir, 0o755);
    execFileSync("cc", ["-O2", "-static", "-o", `${dir}/tap-listen`, `${REPO}tests/fixtures/tap-listen.c`]);
  });
  after(async () => {
    for (const n of ["atk", "vic"]) await d?.api("DELETE", `/v1/instances/${n}?force=true`);
    await d?.api("DELETE", "/v1/networks/hv");
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The attacker's uid on its TAP announces "victim's address is at my MAC" (ARP request to the gateway), then counts what comes for the victim. */
  async function claim(t: { tap: string; uid: string; mac: string }, victimIp: string, gateway: string, tagged: boolean): Promise<number> {
    sh("ip", ["neigh", "flush", "dev", bridge]);
    const args = ["--reuid", t.uid, "--regid", t.uid, "--clear-groups", "--inh-caps=-all", `${dir}/tap-listen`, t.tap, "3", victimIp, t.mac, victimIp, gateway, ...(tagged ? ["vlan0"] : [])];
    const p = spawn("setpriv", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (b: Buffer) => (out += b.toString()));
    p.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const exit = new Promise((r) => p.on("close", r)); // close, not exit: its output is all read by then
    await new Promise((r) => setTimeout(r, 1000));
    const s = createSocket("udp4");
    for (let i = 0; i < 3; i++) await new Promise((r) => s.send(`for-the-victim-${i}`, 9, victimIp, r));
    s.close();
    await exit;
    const seen = /seen (\d+)/.exec(out);
    assert.ok(seen, out);
    return Number(seen[1]);
  }

  it("the host's traffic for a neighbour never goes to a guest that claimed the neighbour's address, tagged or not", async () => {
    const net = await d.api("POST", "/v1/networks", { name: "hv", kind: "host", subnet: "10.238.0.0/24" });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    bridge = net.body.bridge;
    const t: Record<string, { tap: string; uid: string; mac: string; ip: string }> = {};
    for (const n of ["atk", "vic"]) {
      await d.create(n);
      const nic = await d.api("POST", `/v1/instances/${n}/nics`, { network: "hv" });
      assert.equal(nic.status, 201, JSON.stringify(nic.body));
      const tap = nic.body.hostInterface as string;
      t[n] = { tap, uid: readFileSync(`/sys/class/net/${tap}/owner`, "utf8").trim(), mac: nic.body.mac, ip: nic.body.ip };
    }
    assert.equal(await claim(t.atk!, t.vic!.ip, net.body.gateway, false), 0, "untagged, the claim is dropped at the port (the pin works)");
    const tagged = await claim(t.atk!, t.vic!.ip, net.body.gateway, true);
    const neigh = sh("ip", ["neigh", "show", t.vic!.ip, "dev", bridge]).trim();
    assert.equal(tagged, 0, `tagged with VLAN 0, the host took it: its neighbour entry '${neigh}', and the attacker got ${tagged} of the victim's datagrams`);
  });
});
