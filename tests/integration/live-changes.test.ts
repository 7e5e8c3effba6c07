import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestDaemon, type ConsoleClient } from "../harness/daemon.js";

const memFreeKiB = (meminfo: string) => Number(/MemFree:\s+(\d+) kB/.exec(meminfo)?.[1]);

describe("live memory on a real guest", { timeout: 180_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient;
  before(async () => {
    d = await TestDaemon.start();
    const r = await d.api("POST", "/v1/instances", { name: "mem-1", memoryMiB: 256 });
    assert.equal(r.status, 201);
    assert.equal(r.body.maxMemoryMiB, 256);
    await d.mustAct("mem-1", "start");
    con = await d.shell("mem-1");
  });
  after(async () => {
    con?.close();
    await d?.stop();
  });

  it("lowers and raises memory, visible in the guest's own /proc/meminfo, with an event", async () => {
    const free0 = memFreeKiB(await con.run("cat /proc/meminfo"));
    const ev = d.events.length;
    const down = await d.api("PATCH", "/v1/instances/mem-1", { memoryMiB: 96 });
    assert.equal(down.status, 200, JSON.stringify(down.body));
    assert.equal(down.body.memory.memoryMiB, 96);
    assert.equal(down.body.memory.unpluggedMiB, 160);
    assert.equal(down.body.memory.limitedBy, null);
    assert.equal(down.body.instance.memoryMiB, 96);
    const free1 = memFreeKiB(await con.run("cat /proc/meminfo"));
    assert.ok(free0 - free1 > 150 * 1024, `guest MemFree fell by ${(free0 - free1) / 1024} MiB`);
    await d.waitEvent((e) => e.type === "instance.memory" && e.instance === "mem-1" && e.memoryMiB === 96, 5000, ev);

    const up = await d.api("PATCH", "/v1/instances/mem-1", { memoryMiB: 224 });
    assert.equal(up.body.memory.memoryMiB, 224);
    assert.equal(up.body.memory.unpluggedMiB, 32);
    const free2 = memFreeKiB(await con.run("cat /proc/meminfo"));
    assert.ok(free2 - free1 > 120 * 1024, `guest MemFree rose by ${(free2 - free1) / 1024} MiB`);
    const view = await d.api("GET", "/v1/instances/mem-1/memory");
    assert.equal(view.body.unpluggedMiB, 32);
    assert.ok(view.body.hostAllocatedBytes > 0);
  });

  it("refuses a target above maxMemoryMiB and changes nothing", async () => {
    const before = (await d.api("GET", "/v1/instances/mem-1/memory")).body;
    const r = await d.api("PATCH", "/v1/instances/mem-1", { memoryMiB: 257 });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, "memory_above_max");
    assert.deepEqual(r.body.error.details, { memoryMiB: 257, maxMemoryMiB: 256 });
    const again = await d.api("PATCH", "/v1/instances/mem-1", { maxMemoryMiB: 512 });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "invalid_state");
    const afterView = (await d.api("GET", "/v1/instances/mem-1/memory")).body;
    assert.equal(afterView.unpluggedMiB, before.unpluggedMiB);
    assert.equal(afterView.targetMiB, before.targetMiB);
  });

  it("never unplugs below the safety floor: memory in use is reported, not pretended", async () => {
    await con.run("dd if=/dev/zero of=/tmp/fill bs=1M count=150 2>/dev/null; sync");
    const r = await d.api("PATCH", "/v1/instances/mem-1", { memoryMiB: 40 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.memory.limitedBy, "safety-floor");
    assert.ok(r.body.memory.memoryMiB > 40, `reached ${r.body.memory.memoryMiB}`);
    const free = memFreeKiB(await con.run("cat /proc/meminfo"));
    assert.ok(free / 1024 >= r.body.memory.memory.safetyFloorMiB - 4, `guest kept ${free / 1024} MiB free`);
    assert.match(await con.run("echo alive-$((2*21))"), /alive-42/);
    // once the guest lets go of the memory it touched, unplugging it gives it back to the host
    await con.run("rm /tmp/fill");
    const freed = await d.api("PATCH", "/v1/instances/mem-1", { memoryMiB: 40 });
    assert.ok(freed.body.memory.memoryMiB < r.body.memory.memoryMiB, JSON.stringify(freed.body.memory));
    assert.ok(freed.body.memory.hostFreedBytes > 64 * 1024 * 1024, `host got back ${freed.body.memory.hostFreedBytes} bytes`);
  });
});

describe("memory of a stopped instance", { timeout: 120_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start();
  });
  after(async () => {
    await d?.stop();
  });

  it("stores both values while stopped; the next boot uses the boot size and then applies the target", async () => {
    await d.create("mem-2");
    const r = await d.api("PATCH", "/v1/instances/mem-2", { maxMemoryMiB: 160, memoryMiB: 64 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.memory, null, "nothing to plug on a stopped guest");
    assert.equal(r.body.instance.maxMemoryMiB, 160);
    assert.equal(r.body.instance.memoryMiB, 64);
    await d.mustAct("mem-2", "start");
    let view: any;
    for (let i = 0; i < 50; i++) {
      view = (await d.api("GET", "/v1/instances/mem-2/memory")).body;
      if (view.unpluggedMiB === 96) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(view.unpluggedMiB, 96, JSON.stringify(view));
    assert.ok(view.guestMemTotalKiB > 140 * 1024, "the guest booted with the boot size");
    await d.mustAct("mem-2", "halt");
  });
});

describe("disk quota", { timeout: 60_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start();
  });
  after(async () => {
    await d?.stop();
  });

  it("is enforced at create and attach, and reported when usage is above it", async () => {
    const tooSmall = await d.api("POST", "/v1/instances", { name: "q-0", diskQuotaMiB: 32 });
    assert.equal(tooSmall.status, 409);
    assert.equal(tooSmall.body.error.code, "disk_quota_exceeded");
    assert.equal((await d.api("GET", "/v1/instances/q-0")).status, 404, "nothing created");
    const vm = await d.api("POST", "/v1/instances", { name: "q-1", diskQuotaMiB: 100 });
    assert.equal(vm.status, 201);
    assert.deepEqual({ ...vm.body.diskUsage, allocatedBytes: 0 }, { quotaBytes: 100 * 1048576, virtualBytes: 64 * 1048576, allocatedBytes: 0, exceeded: false });
    const over = await d.api("POST", "/v1/instances/q-1/disks", { disk: "q-big", sizeMiB: 64 });
    assert.equal(over.status, 409);
    assert.equal(over.body.error.code, "disk_quota_exceeded");
    assert.deepEqual(over.body.error.details, { quotaBytes: 100 * 1048576, usageBytes: 64 * 1048576, requestBytes: 64 * 1048576 });
    assert.equal((await d.api("GET", "/v1/disks")).body.disks.filter((x: any) => x.role === "data").length, 0, "nothing created");
    assert.equal((await d.api("POST", "/v1/instances/q-1/disks", { disk: "q-small", sizeMiB: 32 })).status, 201);
    assert.equal((await d.api("POST", "/v1/instances/q-1/disks", { disk: "q-ro", image: "busybox", readOnly: true })).status, 201, "read-only disks do not count");
    await d.mustAct("q-1", "start");
    const con = await d.shell("q-1");
    await con.run("dd if=/dev/urandom of=/root/blob bs=1M count=3 2>/dev/null; sync");
    con.close();
    const lowered = await d.api("PATCH", "/v1/instances/q-1", { diskQuotaMiB: 2 });
    assert.equal(lowered.status, 200);
    assert.equal(lowered.body.instance.diskUsage.exceeded, true, "usage above a lowered quota is reported");
    await d.mustAct("q-1", "halt");
  });
});

describe("live disks on a real guest", { timeout: 180_000 }, () => {
  let d: TestDaemon;
  let con: ConsoleClient;
  before(async () => {
    d = await TestDaemon.start();
    await d.create("disk-1");
    await d.create("disk-2");
    await d.mustAct("disk-1", "start");
    con = await d.shell("disk-1");
  });
  after(async () => {
    con?.close();
    await d?.stop();
  });

  it("hot-adds a disk, writes it from the guest, refuses a busy detach, detaches, re-attaches: the data is still there", async () => {
    const ev = d.events.length;
    const a = await d.api("POST", "/v1/instances/disk-1/disks", { disk: "data1", sizeMiB: 32 });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.deepEqual(a.body, { slot: "ubdb", disk: "data1", readOnly: false, live: true });
    await d.waitEvent((e) => e.type === "instance.disk" && e.change === "attached" && e.slot === "ubdb", 5000, ev);
    assert.match(await con.run("cat /proc/partitions"), /\subdb$/m);
    await con.run("mke2fs -q /dev/ubdb && mount /dev/ubdb /mnt && echo payload-$((40+2)) > /mnt/file && sync");
    assert.match(await con.run("cat /mnt/file"), /payload-42/);

    const busy = await d.api("DELETE", "/v1/instances/disk-1/disks/ubdb");
    assert.equal(busy.status, 409);
    assert.equal(busy.body.error.code, "disk_busy");
    assert.equal((await d.get("disk-1")).attachments.length, 1, "a refused detach changes nothing");
    assert.match(await con.run("cat /mnt/file"), /payload-42/);

    await con.run("umount /mnt");
    const det = await d.api("DELETE", "/v1/instances/disk-1/disks/ubdb");
    assert.equal(det.status, 200, JSON.stringify(det.body));
    assert.doesNotMatch(await con.run("cat /proc/partitions"), /ubdb/);
    assert.deepEqual((await d.get("disk-1")).attachments, []);

    const again = await d.api("POST", "/v1/instances/disk-1/disks", { disk: "data1" });
    assert.equal(again.status, 201);
    await con.run("mount /dev/ubdb /mnt");
    assert.match(await con.run("cat /mnt/file"), /payload-42/);
    await con.run("umount /mnt");
  });

  it("keeps attached disks across a reboot and a stop/start", async () => {
    await d.mustAct("disk-1", "reboot");
    con.close();
    con = await d.shell("disk-1");
    assert.match(await con.run("cat /proc/partitions"), /\subdb$/m);
    await d.mustAct("disk-1", "shutdown");
    await d.mustAct("disk-1", "start");
    con.close();
    con = await d.shell("disk-1");
    await con.run("mount /dev/ubdb /mnt");
    assert.match(await con.run("cat /mnt/file"), /payload-42/);
    await con.run("umount /mnt");

    // booted with the disk, then detached live: a reboot (a fresh process) does not bring it back
    assert.equal((await d.api("DELETE", "/v1/instances/disk-1/disks/ubdb")).status, 200);
    await d.mustAct("disk-1", "reboot");
    con.close();
    con = await d.shell("disk-1");
    assert.doesNotMatch(await con.run("cat /proc/partitions"), /ubdb/);
    assert.equal((await d.api("POST", "/v1/instances/disk-1/disks", { disk: "data1" })).status, 201);
    assert.match(await con.run("cat /proc/partitions"), /\subdb$/m);
  });

  it("a disk is read-write on one instance at a time; read-only sharing and COW disks over images work", async () => {
    const rw = await d.api("POST", "/v1/instances/disk-2/disks", { disk: "data1" });
    assert.equal(rw.status, 409);
    assert.equal(rw.body.error.code, "disk_in_use");
    const exists = await d.api("POST", "/v1/instances/disk-2/disks", { disk: "data1", sizeMiB: 8 });
    assert.equal(exists.body.error.code, "disk_exists");
    const missing = await d.api("POST", "/v1/instances/disk-2/disks", { disk: "nope" });
    assert.equal(missing.body.error.code, "disk_not_found");
    assert.equal((await d.api("POST", "/v1/instances/disk-2/disks", {})).body.error.code, "invalid_request");
    const unnamed = await d.api("POST", "/v1/instances/disk-2/disks", { sizeMiB: 8 });
    assert.equal(unnamed.status, 201);
    assert.equal(unnamed.body.disk, "disk-2-ubdb", "a new disk without a name is named after where it is attached");
    const cow = await d.api("POST", "/v1/instances/disk-1/disks", { disk: "base-ro", image: "busybox", readOnly: true });
    assert.equal(cow.status, 201, JSON.stringify(cow.body));
    assert.equal(cow.body.slot, "ubdc");
    await con.run("mount -o ro /dev/ubdc /mnt");
    assert.match(await con.run("ls /mnt/bin/busybox"), /\/mnt\/bin\/busybox/);
    await con.run("umount /mnt");
    // read-only sharing: the same disk read-only on a stopped instance is recorded for its next start
    const shared = await d.api("POST", "/v1/instances/disk-2/disks", { disk: "base-ro", readOnly: true });
    assert.equal(shared.status, 201);
    assert.equal(shared.body.slot, "ubdc");
    assert.equal(shared.body.live, false);
    const list = await d.api("GET", "/v1/disks");
    const root = list.body.disks.find((x: any) => x.name === "disk-1-root");
    assert.equal(root.role, "root");
    assert.ok(root.allocatedBytes > 0 && root.sizeBytes === 64 * 1024 * 1024);
    const baseRo = list.body.disks.find((x: any) => x.name === "base-ro");
    assert.equal(baseRo.kind, "cow");
    assert.equal(baseRo.attachments.length, 2);
  });
});
