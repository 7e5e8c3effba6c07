import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestFleet } from "../harness/fleet.js";
import { sh } from "../harness/host-net.js";

/**
 * A guest with a NIC migrates with it: the target has a host network of the
 * same name (here both hosts' "lan" is bridged to one bridge the test makes,
 * so two daemons on one machine share a subnet), and the NIC keeps its MAC
 * and address. A target without the network refuses before anything stops.
 */
const LAN = "umldbrfm0";

describe("fleet cold migration of a guest with a NIC on a network", { timeout: 600_000 }, () => {
  let fleet: TestFleet;
  const d = (n: string) => fleet.host(n).d;
  before(async () => {
    try {
      sh("ip", ["link", "del", LAN]);
    } catch {
      // not there
    }
    sh("ip", ["link", "add", LAN, "type", "bridge"]);
    sh("ip", ["addr", "add", "10.248.0.10/24", "dev", LAN]);
    sh("ip", ["link", "set", LAN, "up"]);
    fleet = await TestFleet.start(["na", "nb", "nc"], { leaseTtlS: 3 });
  });
  after(async () => {
    await fleet?.stop();
    try {
      sh("ip", ["link", "del", LAN]);
    } catch {
      // gone
    }
  });

  it("a guest on a same-named host network migrates with its MAC and address and reaches the LAN there; a host without the network refuses and nothing changes", async () => {
    for (const h of ["na", "nb"]) {
      const net = await d(h).api("POST", "/v1/networks", { name: "lan", kind: "host", mode: "bridged", bridge: LAN, subnet: "10.248.0.0/24" });
      assert.equal(net.status, 201, JSON.stringify(net.body));
    }
    await d("na")
      .client()
      .call("createInstance", { body: { name: "netmig", memoryMiB: 64, host: "na" } });
    const nic = await d("na").api("POST", "/v1/instances/netmig/nics", { network: "lan", ip: "10.248.0.50" });
    assert.equal(nic.status, 201, JSON.stringify(nic.body));
    // a port forward to a NIC is not carried: refused, naming it
    assert.equal((await d("na").api("POST", "/v1/networks", { name: "nat1", kind: "host", nat: true, subnet: "10.247.0.0/24" })).status, 201);
    assert.equal((await d("na").api("POST", "/v1/instances/netmig/nics", { network: "nat1" })).status, 201);
    const fwd = await d("na").api("POST", "/v1/networks/nat1/forwards", { listenPort: 47913, instance: "netmig", targetPort: 22 });
    assert.equal(fwd.status, 201, JSON.stringify(fwd.body));
    const withFwd = await d("na").api("POST", "/v1/instances/netmig/migrate", { host: "nb" });
    assert.equal(withFwd.status, 409, JSON.stringify(withFwd.body));
    assert.equal(withFwd.body.error.code, "not_migratable");
    assert.match(withFwd.body.error.message, /port forwards to eth1 \(tcp\/47913\)/);
    assert.equal((await d("na").get("netmig")).host, "na");
    assert.equal((await d("na").api("DELETE", "/v1/networks/nat1/forwards/tcp/47913")).status, 200);
    assert.equal((await d("na").api("DELETE", "/v1/instances/netmig/nics/eth1")).status, 200);
    assert.equal((await d("na").api("DELETE", "/v1/networks/nat1")).status, 200);
    await d("na").mustAct("netmig", "start");
    let con = await d("na").shell("netmig");
    assert.match(await con.run("ping -c 2 -W 3 10.248.0.10"), / 0% packet loss/, "the guest reaches the LAN on na");
    con.close();

    // nc has no network "lan": refused before the guest is shut down
    const refused = await d("na").api("POST", "/v1/instances/netmig/migrate", { host: "nc" });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, "not_migratable");
    assert.match(refused.body.error.message, /no network 'lan'/);
    const still = await d("na").get("netmig");
    assert.equal(still.host, "na");
    assert.equal(still.state, "running", "the guest was not shut down");
    assert.deepEqual(
      still.nics.map((n) => [n.network, n.mac, n.ip]),
      [["lan", nic.body.mac, "10.248.0.50"]],
    );
    assert.equal((await d("nc").client().call("listInstances")).instances.filter((i) => i.name === "netmig").length, 1, "one instance in the fleet");
    assert.equal((await d("nc").api("GET", "/v1/networks")).body.networks.length, 0, "nothing made on nc");

    const r = await d("na").api("POST", "/v1/instances/netmig/migrate", { host: "nb" });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.operation.status, "succeeded", JSON.stringify(r.body.operation));
    const v = await d("nb").get("netmig");
    assert.equal(v.host, "nb");
    assert.equal(v.state, "running");
    assert.deepEqual(
      v.nics.map((n) => [n.slot, n.network, n.mac, n.ip]),
      [["eth0", "lan", nic.body.mac, "10.248.0.50"]],
      "the NIC keeps its MAC and address",
    );
    assert.equal((await d("na").api("GET", "/v1/networks")).body.networks[0].nics.length, 0, "na's network no longer has the guest");
    con = await d("nb").shell("netmig");
    assert.match(await con.run("ip -4 addr show eth0"), /inet 10\.248\.0\.50\/24/);
    assert.match(await con.run("ping -c 2 -W 3 10.248.0.10"), / 0% packet loss/, "the guest reaches the LAN on nb");
    con.close();
    assert.equal((await d("nb").act("netmig", "halt")).status, 200);
    assert.equal((await d("nb").api("DELETE", "/v1/instances/netmig")).status, 200);
    for (const h of ["na", "nb"]) assert.equal((await d(h).api("DELETE", "/v1/networks/lan")).status, 200);
  });
});
