import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import pino from "pino";
import { EventBus } from "../../core/events/bus.js";
import { Snapshots, type LayerHost } from "../../core/instances/snapshots.js";
import { sweepStateFiles, mountsUnder } from "../../core/instances/reconcile.js";
import { Operations } from "../../core/operations/operations.js";
import { StatePaths } from "../../core/paths.js";
import { Catalog } from "../../core/storage/catalog.js";
import { CatalogRepo } from "../../core/store/catalog-repo.js";
import { openDb } from "../../core/store/db.js";
import { InstancesRepo } from "../../core/store/instances-repo.js";
import { OperationsRepo } from "../../core/store/operations-repo.js";
import { SnapshotsRepo } from "../../core/store/snapshots-repo.js";
import { createCow, readCowHeader } from "../../core/uml/cow.js";
import type { UmldError } from "../../core/errors.js";

const at = "2024-01-01T00:00:00.000Z";

/** A state dir with one stopped instance on image A and a registered image B, as a crash mid-rebase left it. */
function setup(dir: string, opts: { pending?: boolean } = {}) {
  const paths = new StatePaths(dir);
  for (const d of [paths.images, paths.instances, paths.disks]) mkdirSync(d, { recursive: true });
  const db = openDb(paths.db);
  const catalog = new CatalogRepo(db);
  const image = (id: string) => {
    const path = `${paths.images}/${id}.ext4`;
    writeFileSync(path, Buffer.alloc(1 << 20, id.charCodeAt(0)));
    catalog.insertImage({
      id,
      name: `img-${id[0]}`,
      path,
      size_bytes: 1 << 20,
      sha256: "x",
      readiness: "none",
      is_default: 0,
      created_at: at,
      kind: "snapshot",
      source: null,
      owner: null,
      shared: 0,
      instance_id: null,
    });
    return path;
  };
  const a = image("a000000000000000");
  const b = image("b000000000000000");
  db.prepare("INSERT INTO kernels (id, name, path, version, sha256, size_bytes, mtime_ms, is_default, created_at) VALUES ('k', 'default', '/k', 'v', 'x', 1, 1, 1, ?)").run(at);
  const id = "1234567890abcdef";
  const cow = `${paths.instanceDir(id)}/disk0.cow`;
  mkdirSync(paths.instanceDir(id));
  const h = createCow(cow, a);
  const instances = new InstancesRepo(db);
  instances.insert({ id, name: "vm", memory_mib: 64, max_memory_mib: 64, disk_quota_mib: null, net_mbit: null, image_id: "a000000000000000", kernel_id: "k", boot_options: "[]", created_at: at }, [
    { id: "d", instance_id: id, slot: "ubda", kind: "cow", path: cow, backing_path: a, backing_size: h.size, backing_mtime: h.mtime, size_bytes: h.size, created_at: at },
  ]);
  if (opts.pending !== false) {
    const nb = createCow(`${cow}.new`, b);
    instances.beginRebase(id, "ubda", { path: b, size: nb.size, mtime: nb.mtime }); // step 2 committed, then the crash
  }
  // the manager's side, as merges see it: busy marks, and a state the test can change
  const busy = new Set<string>();
  const marks: string[] = [];
  let state: "stopped" | "running" = "stopped";
  const host = {
    layersOn: (p: string) => (instances.disks(id).some((d) => d.backing_path === p) ? ["vm"] : []),
    row: (n: string) => ({ ...instances.byName(n)!, state }),
    hasGuest: () => false,
    busyWithName: (n: string) => (busy.has(n) ? "upgrade" : null),
    markUpgrading: (n: string, on: boolean) => {
      marks.push(`${n}:${on}`);
      if (on) busy.add(n);
      else busy.delete(n);
    },
  } as unknown as LayerHost;
  const make = () =>
    new Snapshots(host, instances, new SnapshotsRepo(db), new Catalog(catalog, paths.images, paths.kernels), new Operations(new OperationsRepo(db), new EventBus()), pino({ level: "silent" }));
  const setState = (s: "stopped" | "running") => {
    state = s;
  };
  return { paths, db, instances, id, cow, a, b, make, busy, marks, setState, catalog: new Catalog(catalog, paths.images, paths.kernels) };
}

describe("rebase crash recovery and the start-time sweep", () => {
  const root = mkdtempSync("/tmp/umld-rebase-");
  after(() => rmSync(root, { recursive: true, force: true }));

  it("while a rebase is pending both images are protected from deletion", () => {
    const s = setup(`${root}/p`);
    assert.throws(
      () => s.catalog.deleteImage("img-b", () => []),
      (e: UmldError) => e.code === "image_in_use" && /vm/.test(e.message),
    );
    s.db.close();
  });

  it("a crash before the rename: the complete .new COW is renamed into place and the record follows", () => {
    const s = setup(`${root}/before`);
    s.make(); // the manager builds Snapshots at start, before the sweep
    assert.ok(!existsSync(`${s.cow}.new`));
    assert.equal(readCowHeader(s.cow)!.backingFile, s.b);
    const d = s.instances.disks(s.id)[0]!;
    assert.deepEqual([d.backing_path, d.pending_backing_path], [s.b, null]);
    s.db.close();
  });

  it("a crash after the rename: the record follows the COW that is in place", () => {
    const s = setup(`${root}/after`);
    renameSync(`${s.cow}.new`, s.cow);
    s.make();
    assert.equal(s.instances.disks(s.id)[0]!.backing_path, s.b);
    assert.equal(readCowHeader(s.cow)!.backingFile, s.b);
    assert.equal(s.instances.pendingRebases().length, 0);
    s.db.close();
  });

  it("the sweep removes temp files and moves unregistered files to the quarantine, never deleting them", () => {
    const s = setup(`${root}/sweep`);
    s.make();
    const p = s.paths;
    writeFileSync(`${p.images}/c000000000000000.ext4`, "an image whose row was lost");
    writeFileSync(`${p.images}/d000000000000000.ext4.partial`, "half");
    writeFileSync(`${p.disks}/e000000000000000.img`, "a data disk whose row was lost");
    mkdirSync(p.instanceDir("ffffffffffffffff"));
    writeFileSync(`${p.instanceDir(s.id)}/disk0.cow.new`, "leftover");
    writeFileSync(`${p.images}/notes.txt`, "not umld's");
    const known = { instances: new Set([s.id]), images: new Set([s.a, s.b]), disks: new Set<string>() };
    const removed = sweepStateFiles(p, known, new Date(at));
    assert.equal(removed.length, 5, removed.join());
    const q = `${p.root}/quarantine/2024-01-01T00-00-00-000Z`;
    for (const f of ["images/c000000000000000.ext4", "disks/e000000000000000.img", "instances/ffffffffffffffff"]) assert.ok(existsSync(`${q}/${f}`), f);
    assert.ok(!existsSync(`${p.images}/d000000000000000.ext4.partial`) && !existsSync(`${p.instanceDir(s.id)}/disk0.cow.new`));
    assert.ok(existsSync(`${p.images}/notes.txt`) && existsSync(s.a) && existsSync(s.b));
    s.db.close();
  });

  it("a merge with switch holds the instance busy throughout, and never swaps the COW of a guest started meanwhile", async () => {
    const s = setup(`${root}/merge`, { pending: false });
    const snaps = s.make();
    const op = snaps.merge("vm", { image: "flat", switch: true, wait: true });
    assert.equal(s.busy.has("vm"), true, "held busy from the moment the merge is accepted");
    assert.throws(
      () => snaps.merge("vm", { image: "flat2", switch: true, wait: true }),
      (e: UmldError) => e.code === "instance_busy",
    );
    s.setState("running"); // e.g. started by a path that ignored the mark
    await assert.rejects(op, (e: UmldError) => e.code === "invalid_state" && /was not switched/.test(e.message));
    assert.deepEqual(s.marks, ["vm:true", "vm:false"]);
    assert.equal(readCowHeader(s.cow)!.backingFile, s.a, "the running guest's COW was left alone");
    assert.equal(s.instances.disks(s.id)[0]!.backing_path, s.a);
    s.setState("stopped");
    const done = await snaps.merge("vm", { image: "flat3", switch: true, wait: true });
    assert.deepEqual(done.result, { image: "flat3", switched: true });
    const img = s.catalog.image("flat3");
    assert.equal(readCowHeader(s.cow)!.backingFile, img.path);
    assert.equal(s.instances.disks(s.id)[0]!.backing_path, img.path);
    assert.equal(s.busy.size, 0);
    s.db.close();
  });

  it("finds mount points under a directory in mountinfo, octal escapes decoded, deepest first", () => {
    const info = [
      "36 35 98:0 / /mnt/a rw - ext4 /dev/x rw",
      "37 36 0:1 / /var/lib/umld/images/.extract-x rw - tmpfs tmpfs rw",
      "38 37 0:2 / /var/lib/umld/images/.extract-x/sub\\040dir rw - tmpfs tmpfs rw",
      "39 35 0:3 / /var/lib/umld/images/.extract-xy rw - tmpfs tmpfs rw",
    ].join("\n");
    assert.deepEqual(mountsUnder("/var/lib/umld/images/.extract-x", info), ["/var/lib/umld/images/.extract-x/sub dir", "/var/lib/umld/images/.extract-x"]);
  });
});
