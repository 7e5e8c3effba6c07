import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { Fleet } from "../../core/fleet/fleet.js";
import { TestEtcd } from "../harness/etcd.js";

const figures = () => ({ memory: { totalMiB: 1024, limitMiB: 1024, committedMiB: 0 }, guests: { total: 0, running: 0 } });

describe("fleet: another machine taking a lost host's name (a real etcd)", () => {
  let server: TestEtcd;
  let dir: string;
  before(async () => {
    server = await TestEtcd.start();
    dir = mkdtempSync("/tmp/umld-takeover-");
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const fleetOf = (machine: string) =>
    new Fleet({ endpoints: [server.url], hostName: "hx", advertise: "http://127.0.0.1:1", leaseTtlS: 2, hostIdFile: `${dir}/${machine}-host-id` }, "test", figures, pino({ level: "silent" }));

  it("keeps the lost host's instance names claimed: their guests' disks are on the lost machine", async () => {
    const old = fleetOf("old");
    await old.join();
    await old.claim("web", 64);
    await old.close(); // lost: its lease ended
    const fresh = fleetOf("new");
    await fresh.join();
    const r = await fresh.reconcileNames([]);
    assert.deepEqual(r.released, [], "a name the new machine never had is not released");
    const again = fleetOf("other");
    await assert.rejects(
      (async () => {
        await fresh.close();
        await again.join();
        await again.claim("web");
      })(),
      (e: Error & { code?: string }) => e.code === "instance_exists",
    );
    await again.close();
  });
});
