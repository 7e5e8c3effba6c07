import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { keptNicProblem } from "../../core/network/network-rows.js";
import type { NetworkRow, NicRow } from "../../core/store/networks-repo.js";

const net = (kind: string, subnet: string) => ({ id: "n1", name: "lan", kind, subnet }) as unknown as NetworkRow;
const nic = { slot: "eth0", network: "lan", kind: "host", mac: "fe:18:0a:f8:00:32", ip: "10.248.0.50" };
const other = (ip: string, mac: string) => ({ ip, mac }) as NicRow;

describe("a migrated NIC keeps its network, MAC and address only where they fit", () => {
  it("fits a same-named network of the same kind with the address free in its subnet", () => {
    assert.equal(keptNicProblem(net("host", "10.248.0.0/24"), nic, [other("10.248.0.2", "fe:18:0a:f8:00:02")]), null);
    assert.equal(keptNicProblem(net("user", "10.0.2.0/24"), { ...nic, kind: "user", ip: "10.0.2.15" }, [other("10.0.2.15", nic.mac)]), null, "user NICs share slirp's address");
  });
  it("names what does not fit", () => {
    assert.match(keptNicProblem(undefined, nic, [])!, /no network 'lan'/);
    assert.match(keptNicProblem(net("switch", "10.248.0.0/24"), nic, [])!, /a switch network here, not host/);
    assert.match(keptNicProblem(net("host", "10.249.0.0/24"), nic, [])!, /not in 10\.249\.0\.0\/24/);
    assert.match(keptNicProblem(net("host", "10.248.0.0/24"), { ...nic, ip: "10.248.0.1" }, [])!, /the host's here/);
    assert.match(keptNicProblem(net("host", "10.248.0.0/24"), { ...nic, ip: "10.248.0.255" }, [])!, /not in/, "the broadcast address");
    assert.match(keptNicProblem(net("host", "10.248.0.0/24"), nic, [other("10.248.0.50", "fe:00:00:00:00:01")])!, /address is taken/);
    assert.match(keptNicProblem(net("host", "10.248.0.0/24"), nic, [other("10.248.0.7", nic.mac)])!, /MAC .* is taken/);
  });
});
