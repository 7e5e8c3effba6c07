import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { switchProcesses } from "../../core/host/procfs.js";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";

/** uml_switch processes serving this state dir. */
const switchPids = (stateDir: string) => switchProcesses(`${stateDir}/net`);

describe("switch networks between real guests", { timeout: 240_000 }, () => {
  let d: TestDaemon;
  const con: Record<string, ConsoleClient> = {};
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
  });
  after(async () => {
    for (const c of Object.values(con)) c.close();
    await d?.stop();
  });

  it("two guests on one network ping each other and exchange a file over TCP; a guest on another network cannot reach them", async () => {
    assert.equal((await d.api("POST", "/v1/networks", { name: "lan", subnet: "10.77.0.0/24" })).status, 201);
    assert.equal((await d.api("POST", "/v1/networks", { name: "other", subnet: "10.77.0.0/24" })).status, 201, "same subnet: only L2 isolation keeps them apart");
    const nics: Record<string, string> = {};
    for (const [n, net] of [["g1", "lan"], ["g2", "lan"], ["g3", "other"]] as const) {
      await d.create(n);
      const nic = await d.api("POST", `/v1/instances/${n}/nics`, { network: net });
      assert.equal(nic.status, 201, JSON.stringify(nic.body));
      nics[n] = nic.body.ip;
      await d.mustAct(n, "start");
      con[n] = await d.shell(n);
    }
    assert.equal(nics.g1, "10.77.0.1");
    assert.equal(nics.g2, "10.77.0.2");
    assert.match(await con.g1!.run(`ip -4 addr show eth0`), /inet 10\.77\.0\.1\/24/, "addressed from its MAC, no agent");
    assert.match(await con.g1!.run(`ping -c 2 -W 3 ${nics.g2}`), / 0% packet loss/);
    assert.match(await con.g2!.run(`ping -c 2 -W 3 ${nics.g1}`), / 0% packet loss/);
    con.g2!.type("nc -l -p 5000 > /tmp/got &\n");
    await new Promise((r) => setTimeout(r, 500));
    await con.g1!.run(`echo payload-$((6*7)) | nc -w 3 ${nics.g2} 5000`);
    await new Promise((r) => setTimeout(r, 500));
    assert.match(await con.g2!.run("cat /tmp/got"), /payload-42/);
    assert.match(await con.g3!.run(`ping -c 2 -W 1 ${nics.g2}`), /100% packet loss/, "isolated");
  });

  it("a NIC hot-added to a running guest comes up by itself (addressed from its MAC) and works; hot-removed (once down) it disappears", async () => {
    const add = await d.api("POST", "/v1/instances/g3/nics", { network: "lan" });
    assert.equal(add.status, 201, JSON.stringify(add.body));
    assert.deepEqual({ slot: add.body.slot, live: add.body.live, ip: add.body.ip }, { slot: "eth1", live: true, ip: "10.77.0.3" });
    assert.match(await con.g3!.run("ls /sys/class/net"), /eth1/, "the guest has the new interface");
    await con.g3!.runUntil("ip -4 addr show eth1", /inet 10\.77\.0\.3\/24/); // the guest configures it by itself (mdev runs /etc/umld-net)
    // g3 has the same subnet on eth0 (the other network): ping out of the new interface
    assert.match(await con.g3!.run("ping -I eth1 -c 2 -W 3 10.77.0.2"), / 0% packet loss/);
    const mine = await d.api("POST", "/v1/instances/g1/nics", { network: "other", mac: "02:00:00:00:00:2a" });
    assert.equal(mine.status, 201, JSON.stringify(mine.body));
    assert.equal(mine.body.mac, "02:00:00:00:00:2a", "a MAC of the admin's choosing");
    assert.match(await con.g1!.run("cat /sys/class/net/eth1/address"), /02:00:00:00:00:2a/);
    const again = await d.api("POST", "/v1/instances/g2/nics", { network: "other", mac: "02:00:00:00:00:2a" });
    assert.equal(again.body.error.code, "mac_in_use");
    const multicast = await d.api("POST", "/v1/instances/g2/nics", { network: "other", mac: "03:00:00:00:00:01" });
    assert.equal(multicast.body.error.code, "invalid_request");
    assert.equal((await d.api("DELETE", "/v1/instances/g1/nics/eth1")).status, 200);
    const busy = await d.api("DELETE", "/v1/instances/g3/nics/eth1");
    assert.equal(busy.status, 409);
    assert.equal(busy.body.error.code, "nic_busy");
    await con.g3!.run("ip link set eth1 down");
    assert.equal((await d.api("DELETE", "/v1/instances/g3/nics/eth1")).status, 200);
    assert.doesNotMatch(await con.g3!.run("ls /sys/class/net"), /eth1/);
    assert.deepEqual((await d.get("g3")).nics.map((n) => n.slot), ["eth0"]);
  });

  it("a switch runs only while NICs are on its network: started by the first boot, stopped when the last NIC goes", async () => {
    assert.equal((await d.api("POST", "/v1/networks", { name: "lazy", subnet: "10.78.0.0/24" })).status, 201);
    const pidOf = async () => (await d.api("GET", "/v1/networks")).body.networks.find((n: { name: string }) => n.name === "lazy").switchPid;
    assert.equal(await pidOf(), null, "no NIC, no switch");
    await d.create("lz");
    assert.equal((await d.api("POST", "/v1/instances/lz/nics", { network: "lazy" })).status, 201);
    assert.equal(await pidOf(), null, "a NIC of a stopped guest needs no switch yet");
    await d.mustAct("lz", "start");
    const pid = await pidOf();
    assert.ok(typeof pid === "number" && switchPids(d.stateDir).includes(pid), "started with the guest that uses it");
    await d.mustAct("lz", "halt");
    assert.equal((await d.api("DELETE", "/v1/instances/lz/nics/eth0")).status, 200);
    assert.equal(await pidOf(), null);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!switchPids(d.stateDir).includes(pid), "the last NIC went: the switch stopped");
    assert.equal((await d.api("DELETE", "/v1/instances/lz")).status, 200);
    assert.equal((await d.api("DELETE", "/v1/networks/lazy")).status, 200);
  });

  it("after a daemon restart the network still works and nothing is duplicated; after deleting everything nothing is left", async () => {
    const before = switchPids(d.stateDir).sort();
    assert.equal(before.length, 2, "one switch per network");
    for (const c of Object.values(con)) c.close();
    await d.kill("SIGTERM");
    d = await TestDaemon.start({ stateDir: d.stateDir, logLevel: "info" });
    assert.deepEqual(switchPids(d.stateDir).sort(), before, "the same switch processes, adopted");
    con.g1 = await d.console("g1", false);
    assert.match(await con.g1.run("ping -c 2 -W 3 10.77.0.2"), / 0% packet loss/);
    con.g1.close();
    delete con.g1;
    const inUse = await d.api("DELETE", "/v1/networks/lan");
    assert.equal(inUse.status, 409);
    assert.equal(inUse.body.error.code, "network_in_use");
    for (const n of ["g1", "g2", "g3"]) assert.equal((await d.api("DELETE", `/v1/instances/${n}?force=true`)).status, 200);
    for (const net of ["lan", "other"]) assert.equal((await d.api("DELETE", `/v1/networks/${net}`)).status, 200);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(switchPids(d.stateDir), [], "no switch process left");
    assert.deepEqual(readdirSync(`${d.stateDir}/net`), [], "no switch files left");
  });
});
