import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import pino from "pino";
import { migrate, MIGRATIONS_DIR, openDb } from "../../core/store/db.js";
import { TenantsRepo } from "../../core/store/tenants-repo.js";
import { Tenants } from "../../core/tenants/tenants.js";
import type { UmldError } from "../../core/errors.js";

const at = "2024-01-01T00:00:00.000Z";

describe("image owners (migration 0008) and what tenants own and use", () => {
  const dir = mkdtempSync("/tmp/umld-owners-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A database at schema 0007 with rows as an older umld left them. */
  function legacyDb() {
    const old = `${dir}/m7-${Math.random()}`;
    mkdirSync(old);
    for (const f of readdirSync(MIGRATIONS_DIR)) if (/^000[1-7]_/.test(f)) copyFileSync(`${MIGRATIONS_DIR}/${f}`, `${old}/${f}`);
    const db = openDb(`${old}/umld.db`, old);
    const img = (id: string, name: string, kind: string, size = 64 << 20) =>
      db
        .prepare("INSERT INTO images (id, name, path, size_bytes, sha256, readiness, is_default, created_at, kind, source) VALUES (?, ?, ?, ?, 'x', 'none', 0, ?, ?, NULL)")
        .run(id, name, `/s/images/${id}.ext4`, size, at, kind);
    db.prepare("INSERT INTO kernels (id, name, path, version, sha256, size_bytes, mtime_ms, is_default, created_at) VALUES ('k', 'default', '/k', 'v', 'x', 1, 1, 1, ?)").run(at);
    for (const t of ["acme", "a".repeat(60)]) db.prepare("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)").run(t.slice(0, 8), t, at);
    img("i-busybox", "busybox", "built-in");
    img("i-imp", "from-tar", "imported");
    img("i-acme-snap", "acme.web-s1", "snapshot");
    img("i-long-snap", `${"a".repeat(55)}`, "snapshot"); // H1: a 60-character tenant's snapshot lost its dot
    img("i-admin-snap", "box-s1", "snapshot");
    img("i-gone", "gone.web-s1", "snapshot"); // a deleted tenant's: nobody's to inherit
    img("i-merge", "flat", "merged");
    const inst = (id: string, name: string) =>
      db
        .prepare(
          "INSERT INTO instances (id, name, state, memory_mib, max_memory_mib, image_id, kernel_id, boot_options, created_at, updated_at) VALUES (?, ?, 'stopped', 64, 64, 'i-busybox', 'k', '[]', ?, ?)",
        )
        .run(id, name, at, at);
    inst("x-long", `${"a".repeat(60)}.web`);
    inst("x-box", "box");
    db.prepare("INSERT INTO snapshots (id, instance_id, name, image_id, created_at) VALUES ('s1', 'x-long', 's1', 'i-long-snap', ?)").run(at);
    db.prepare("INSERT INTO snapshots (id, instance_id, name, image_id, created_at) VALUES ('s2', 'x-box', 's1', 'i-admin-snap', ?)").run(at);
    return { db, old };
  }

  it("built-in and imported images become shared; derived ones their tenant's (by snapshot, else by prefix), else the admin's", () => {
    const { db } = legacyDb();
    assert.deepEqual(migrate(db, MIGRATIONS_DIR).slice(0, 1), [8], "0008 first (later migrations follow)");
    const rows = Object.fromEntries(
      (db.prepare("SELECT id, owner, shared, instance_id FROM images").all() as Array<{ id: string; owner: string | null; shared: number; instance_id: string | null }>).map((r) => [
        r.id,
        [r.owner, r.shared, r.instance_id],
      ]),
    );
    assert.deepEqual(rows, {
      "i-busybox": [null, 1, null],
      "i-imp": [null, 1, null],
      "i-acme-snap": ["acme", 0, null],
      "i-long-snap": ["a".repeat(60), 0, "x-long"],
      "i-admin-snap": [null, 0, "x-box"],
      "i-gone": [null, 0, null],
      "i-merge": [null, 0, null],
    });
    db.close();
  });

  it("migration 0012 gives existing instances, networks and data disks the owner their name prefix meant, and usage goes by it", () => {
    const { db } = legacyDb();
    db.prepare("INSERT INTO networks (id, name, kind, subnet, nat, created_at) VALUES ('n1', 'acme.lan', 'switch', '10.0.0.0/24', 0, ?), ('n2', 'lan', 'switch', '10.0.1.0/24', 0, ?)").run(at, at);
    db.prepare("INSERT INTO data_disks (id, name, kind, path, size_bytes, created_at) VALUES ('d1', 'acme.data', 'raw', '/d1', 2097152, ?), ('d2', 'nobody.data', 'raw', '/d2', 1048576, ?)").run(
      at,
      at,
    );
    migrate(db, MIGRATIONS_DIR);
    const owners = (table: string) =>
      Object.fromEntries((db.prepare(`SELECT name, owner FROM ${table} ORDER BY name`).all() as Array<{ name: string; owner: string | null }>).map((r) => [r.name, r.owner]));
    assert.deepEqual(owners("instances"), { [`${"a".repeat(60)}.web`]: "a".repeat(60), box: null });
    assert.deepEqual(owners("networks"), { "acme.lan": "acme", lan: null });
    assert.deepEqual(owners("data_disks"), { "acme.data": "acme", "nobody.data": null }, "a prefix that is no tenant's owns nothing");
    const repo = new TenantsRepo(db);
    assert.equal(repo.usage("acme").diskMiB, 64 + 2, "its snapshot image and its data disk");
    assert.deepEqual(repo.owned("acme").networks, ["acme.lan"]);
    assert.equal(repo.usage("a".repeat(60)).instances, 1);
    db.close();
  });

  it("a tenant's images count against its disk quota; deleting it is refused while it owns anything, listing what", () => {
    const { db } = legacyDb();
    migrate(db, MIGRATIONS_DIR);
    const repo = new TenantsRepo(db);
    assert.equal(repo.usage("acme").diskMiB, 64, "its snapshot image, though no instance of its exists any more");
    const tenants = new Tenants(repo, pino({ level: "silent" }));
    const before = tenants.list().length;
    assert.throws(
      () => tenants.delete("acme"),
      (e: UmldError) => {
        assert.equal(e.code, "tenant_in_use");
        assert.deepEqual(e.details, { instances: [], networks: [], disks: [], images: ["acme.web-s1"] });
        assert.match(e.message, /1 image \(acme\.web-s1\)/);
        return true;
      },
    );
    db.prepare("INSERT INTO data_disks (id, name, owner, kind, path, size_bytes, created_at) VALUES ('d', 'acme.data', 'acme', 'raw', '/d', 1048576, ?)").run(at);
    db.prepare("DELETE FROM images WHERE owner = 'acme'").run();
    assert.throws(
      () => tenants.delete("acme"),
      (e: UmldError) => e.code === "tenant_in_use" && (e.details as { disks: string[] }).disks[0] === "acme.data",
    );
    db.prepare("DELETE FROM data_disks").run();
    assert.equal(tenants.list().length, before, "refusals changed nothing");
    assert.deepEqual(tenants.delete("acme"), { deleted: "acme" });
    db.close();
  });

  it("reservations refuse NaN and Infinity, so a quota set later still holds", () => {
    const db = openDb(`${dir}/q.db`);
    const tenants = new Tenants(new TenantsRepo(db), pino({ level: "silent" }));
    tenants.create("q", {});
    for (const bad of [Infinity, NaN, -1]) {
      assert.throws(
        () => tenants.reserve("q", { diskMiB: bad }),
        (e: UmldError) => e.code === "invalid_request",
      );
    }
    const release = tenants.reserve("q", { diskMiB: 10 });
    release();
    tenants.update("q", { maxDiskMiB: 100 });
    assert.throws(
      () => tenants.reserve("q", { diskMiB: 101 }),
      (e: UmldError) => e.code === "quota_exceeded",
    );
    tenants.reserve("q", { diskMiB: 100 })();
    db.close();
  });
});
