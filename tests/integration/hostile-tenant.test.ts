import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { encodeNotify } from "../../core/uml/notify.js";
import { guestPids, TestDaemon } from "../harness/daemon.js";

/** /proc/<pid>/status as key → value. */
function status(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .map((l) => l.split(":\t"))
      .filter((kv) => kv.length === 2)
      .map(([k, v]) => [k!, v!.trim()]),
  );
}

const uidOf = (pid: number) => Number(status(pid).Uid!.split("\t")[0]);

/** Runs a node script as `uid` (an escaped guest process: that uid, no capabilities), returning its stdout. */
function asUid(uid: number, groups: string, script: string): string {
  const r = spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, `--groups=${groups}`, "--no-new-privs", "--bounding-set=-all", process.execPath, "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`as uid ${uid}: ${r.stderr}`);
  return r.stdout;
}

/** Every path below `dir` (no symlinks followed), as root sees it. */
function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    out.push(p);
    if (e.isDirectory()) walk(p, out);
  }
  return out;
}

/**
 * A hostile tenant, with nothing but its token, tries every way out it was
 * told about and some it was not: kernel options in UML's spellings, hostfs,
 * the host as its own uid, another guest's mconsole, the daemon's files.
 */
describe("a hostile tenant gets nothing", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let acme: string;
  let rival: string;
  const sentinel = `/tmp/umld-hostile-sentinel-${process.pid}`;

  before(async () => {
    writeFileSync(sentinel, "host secret\n", { mode: 0o644 });
    d = await TestDaemon.start({ logLevel: "info" });
    for (const t of ["acme", "rival"]) assert.equal((await d.api("POST", "/v1/tenants", { name: t })).status, 201);
    acme = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "t" })).body.token;
    rival = (await d.api("POST", "/v1/tenants/rival/tokens", { name: "t" })).body.token;
    for (const [token, name] of [
      [acme, "web"],
      [rival, "db"],
    ] as const) {
      assert.equal((await d.api("POST", "/v1/instances", { name }, { token })).status, 201);
      const r = await d.api("PUT", `/v1/instances/${name}/state`, { action: "start" }, { token });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  });
  after(async () => {
    rmSync(sentinel, { force: true });
    await d?.stop();
  });

  it("no kernel option that names a device, channel, path or host resource is accepted, in any spelling UML takes", async () => {
    const db = `${d.stateDir}/umld.db`;
    const spellings = [
      `ubdcr=${db}`,
      `ubdb=${db}`,
      `ubdbr=${db}`,
      `ubd1=${db}`,
      `ubd1d=${db}`,
      `ubd01=${db}`,
      `ubdp=${db}`,
      `ubd0x2=${db}`,
      `ubd15d=${db}`,
      `udb=${db}`,
      "ssl0=port:8080",
      "ssl=port:8080",
      "ssl2=tty:/dev/pts/0",
      "con1=pts",
      "con=fd:0",
      "con0=fd:0,fd:1",
      "eth0=mcast",
      "eth16=mcast",
      "eth00=daemon",
      "vec0:transport=raw,ifname=lo",
      "vec0=x",
      `mconsole=notify:${db}`,
      "hostfs=/",
      `uml_dir=${d.stateDir}`,
      "umid=other",
      "root=/dev/ubdb",
      "init=/bin/sh",
      "rootflags=/",
      "rootfstype=hostfs",
      "mem=8G",
      `initrd=${db}`,
      `iomem=x,${db}`,
      "xterm=x",
      "virtio_uml.device=/x:1",
      "time-travel=ext:/x",
      "stderr=1",
      "noreboot",
      "debug",
      "umld.hostname=x",
      "console=ttyS0",
      "UBDB=/etc/passwd",
    ];
    const before = (await d.api("GET", "/v1/instances")).body.instances.length;
    for (const o of spellings) {
      const r = await d.api("POST", "/v1/instances", { name: "evil", bootOptions: [o] }, { token: acme });
      assert.equal(r.status, 400, `${o}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "invalid_request");
      assert.match(JSON.stringify(r.body.error.details), /not allowed|takes no value|needs a value/, o);
    }
    assert.equal((await d.api("GET", "/v1/instances")).body.instances.length, before, "nothing was created");
  });

  it("two tenants' guests run as different unprivileged uids, each with every process in its own cgroup", async () => {
    const web = await d.get("acme.web");
    const db = await d.get("rival.db");
    const uids = [uidOf(web.pid!), uidOf(db.pid!)];
    assert.notEqual(uids[0], uids[1]);
    for (const [vm, uid] of [
      [web, uids[0]!],
      [db, uids[1]!],
    ] as const) {
      assert.ok(uid >= 2_000_000_000, `a uid of umld's range: ${uid}`);
      const pids = guestPids(d.stateDir, vm.id);
      assert.ok(pids.length >= 2, `${vm.name}: UML and its helpers`);
      for (const pid of pids) {
        let s: Record<string, string>;
        try {
          s = status(pid);
        } catch {
          continue; // a guest process that exited meanwhile
        }
        assert.equal(s.Uid, `${uid}\t${uid}\t${uid}\t${uid}`, `pid ${pid}`);
        assert.equal(s.CapEff, "0000000000000000");
        assert.equal(s.CapBnd, "0000000000000000");
        assert.equal(s.NoNewPrivs, "1");
        const cg = readFileSync(`/proc/${pid}/cgroup`, "utf8");
        assert.match(cg, new RegExp(`/${vm.id}$`, "m"), `pid ${pid} is in ${vm.name}'s cgroup`);
      }
      assert.match(readFileSync(`/proc/${vm.pid}/limits`, "utf8"), /Max core file size\s+0\s+0/);
    }
  });

  it("from the host, a guest's /proc/<pid>/root is its jail: nothing but its kernel, libraries, image, disk and sockets", async () => {
    const web = await d.get("acme.web");
    const root = `/proc/${web.pid}/root`;
    const inside = walk(root).map((p) => p.slice(root.length));
    const files = inside.filter((p) => statSync(root + p).isFile());
    const allowed = [
      web.disks[0]!.path,
      web.disks[0]!.backingPath!,
      "/usr/bin/linux.uml",
      "/lib/x86_64-linux-gnu/libc.so.6",
      "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      "/lib64/ld-linux-x86-64.so.2",
      `${d.stateDir}/instances/${web.id}/run/${web.id}/pid`,
    ];
    for (const f of files) assert.ok(allowed.includes(f), `unexpected file in the jail: ${f}`);
    for (const absent of [`${d.stateDir}/umld.db`, `${d.stateDir}/admin.token`, "/etc/passwd", "/etc/shadow", sentinel, "/dev/net/tun", "/proc/1"]) {
      assert.ok(!inside.includes(absent), `${absent} is not in the jail`);
    }
    // the other tenant's guest is not in it either
    const db = await d.get("rival.db");
    assert.ok(!inside.some((p) => p.includes(db.id)), "nothing of the other tenant's guest");
  });

  it("walking the host as the guest's uid, in its namespace or out of it, opens only its own files", async () => {
    const web = await d.get("acme.web");
    const db = await d.get("rival.db");
    const uid = uidOf(web.pid!);
    const groups = status(web.pid!).Groups!.trim().split(/\s+/).join(",");
    // in its namespace: what the jail shows, tried one by one as that uid
    const root = `/proc/${web.pid}/root`;
    const candidates = walk(root).filter((p) => statSync(p).isFile());
    const opened = JSON.parse(
      asUid(
        uid,
        groups,
        `
      const fs = require("fs"); const ok = [];
      for (const p of ${JSON.stringify(candidates)}) { try { fs.closeSync(fs.openSync(p, "r")); ok.push(p); } catch {} }
      console.log(JSON.stringify(ok));`,
      ),
    ) as string[];
    const own = [
      web.disks[0]!.path,
      web.disks[0]!.backingPath!,
      "/usr/bin/linux.uml",
      "/lib/x86_64-linux-gnu/libc.so.6",
      "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      "/lib64/ld-linux-x86-64.so.2",
      `${d.stateDir}/instances/${web.id}/run/${web.id}/pid`,
    ];
    for (const p of opened) assert.ok(own.includes(p.slice(root.length)), `opened ${p}`);
    // out of it (a process that escaped the namespace too): the daemon's files and the other guest's are closed
    const targets = [
      `${d.stateDir}/umld.db`,
      `${d.stateDir}/umld.db-wal`,
      `${d.stateDir}/admin.token`,
      db.disks[0]!.path,
      web.disks[0]!.path,
      web.disks[0]!.backingPath!,
      `${d.stateDir}/instances/${db.id}/console.log`,
      "/etc/shadow",
    ];
    const reachable = JSON.parse(
      asUid(
        uid,
        groups,
        `
      const fs = require("fs"); const ok = [];
      for (const p of ${JSON.stringify(targets)}) { try { fs.closeSync(fs.openSync(p, "r")); ok.push(p); } catch {} }
      console.log(JSON.stringify(ok));`,
      ),
    ) as string[];
    assert.deepEqual(reachable, [], "no host path reaches a file, not even its own disk");
  });

  it("a guest that mounts hostfs and walks '..' finds nothing of the host", async () => {
    const con = await d.console("web", true, undefined, acme);
    await con.waitFor("web:/# ", 20_000);
    const out = await con.run(
      `mkdir -p /mnt/h; mount -t hostfs none /mnt/h 2>&1; ls -la /mnt/h 2>&1 | head; cat /mnt/h/../../../../..${sentinel} 2>&1; ` +
        `umount /mnt/h; mount -t hostfs none /mnt/h -o ../../../../../.. 2>&1; ls /mnt/h /mnt/h/etc /mnt/h${d.stateDir} 2>&1 | head; cat /mnt/h${sentinel} /mnt/h/etc/passwd /mnt/h${d.stateDir}/umld.db 2>&1 | head -3; umount /mnt/h 2>&1`,
    );
    assert.doesNotMatch(out, /host secret/, out);
    assert.doesNotMatch(out, /root:x:0:0/, out);
    assert.doesNotMatch(out, /SQLite format 3/, out);
    con.close();
  });

  it("a forged notification naming another guest's mconsole is ignored: the daemon only talks to the guest's own", async () => {
    const web = await d.get("acme.web");
    const db = await d.get("rival.db");
    const uid = uidOf(web.pid!);
    const groups = status(web.pid!).Groups!.trim().split(/\s+/).join(",");
    const victim = `${d.stateDir}/instances/${db.id}/run/${db.id}/mconsole`;
    const forged = encodeNotify(0, Buffer.from(`${victim}\0`));
    // an escaped guest process of acme.web sends it to its own notify socket, from its jail's view
    const notify = `/proc/${web.pid}/root${d.stateDir}/instances/${web.id}/sock/notify.sock`;
    asUid(
      uid,
      groups,
      `
      const { execFileSync } = require("child_process");
      execFileSync("python3", ["-c", "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(bytes.fromhex(sys.argv[1]), sys.argv[2])", ${JSON.stringify(forged.toString("hex"))}, ${JSON.stringify(notify)}]);`,
    );
    await new Promise((r) => setTimeout(r, 500));
    const v = await d.api("POST", "/v1/instances/web/mconsole", { command: "version" }, { token: acme });
    // tenants may not use the passthrough; the admin asks instead
    assert.equal(v.status, 403);
    const admin = await d.api("POST", "/v1/instances/acme.web/mconsole", { command: "version" });
    assert.equal(admin.status, 200, JSON.stringify(admin.body));
    assert.match(admin.body.reply, /^Linux web /, "still the guest's own kernel answering");
    assert.ok(
      d.logLines.some((l) => l.includes("announced another mconsole path")),
      "the forgery was noticed",
    );
  });

  it("tenant A's snapshot is invisible and unusable to tenant B: the same answers as an image that never existed", async () => {
    const snap = await d.api("POST", "/v1/instances/web/snapshots", { name: "s1" }, { token: acme });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    const image = snap.body.result?.image ?? snap.body.image ?? "web-s1";
    const theirs = (await d.api("GET", "/v1/images", undefined, { token: rival })).body.images.map((i: { name: string }) => i.name);
    assert.ok(!theirs.some((n: string) => n.includes("web-s1") || n.includes(image)), `B sees ${theirs}`);
    for (const name of [image, "web-s1", "never-made"]) {
      const boot = await d.api("POST", "/v1/instances", { name: "thief", image: name }, { token: rival });
      const gone = await d.api("DELETE", `/v1/images/${name}`, undefined, { token: rival });
      assert.ok(boot.status === 404 || boot.status === 400, `boot from ${name}: ${boot.status}`);
      assert.ok(gone.status === 404 || gone.status === 400, `delete ${name}: ${gone.status}`);
    }
    assert.equal((await d.api("POST", "/v1/instances", { name: "thief", image: "acme.web-s1" }, { token: rival })).status, 400, "no name of another tenant can be spelled");
    assert.equal((await d.api("GET", "/v1/instances/thief", undefined, { token: rival })).status, 404, "nothing was made");
  });

  it("quota escapes fail: a clone booting more memory than its source's quota allows, a disk quota switched off and on", async () => {
    assert.equal((await d.api("POST", "/v1/tenants", { name: "tight", quotas: { maxMemoryMiB: 128, maxInstances: 3 } })).status, 201);
    const tight = (await d.api("POST", "/v1/tenants/tight/tokens", { name: "t" })).body.token;
    assert.equal((await d.api("POST", "/v1/instances", { name: "a", memoryMiB: 64 }, { token: tight })).status, 201);
    const clone = await d.api("POST", "/v1/instances/a/clone", { name: "b", memoryMiB: 4096 }, { token: tight });
    assert.equal(clone.body.error?.code, "quota_exceeded", JSON.stringify(clone.body));
    assert.equal((await d.api("PATCH", "/v1/instances/a", { maxMemoryMiB: 8192 }, { token: tight })).body.error?.code, "quota_exceeded");
    assert.equal((await d.api("PATCH", "/v1/tenants/tight", { quotas: { maxDiskMiB: 100 } })).status, 200);
    assert.equal((await d.api("PATCH", "/v1/instances/a", { diskQuotaMiB: null }, { token: tight })).status, 200);
    const big = await d.api("POST", "/v1/instances/a/disks", { sizeMiB: 200 }, { token: tight });
    assert.equal(big.body.error?.code, "quota_exceeded", `the disk quota still holds: ${JSON.stringify(big.body)}`);
    const list = (await d.api("GET", "/v1/instances", undefined, { token: tight })).body.instances.map((i: { name: string }) => i.name);
    assert.deepEqual(list, ["a"], "nothing was made");
  });

  it("a revoked token's console closes within 2 s, and it opens nothing after", async () => {
    const tok = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "short" })).body;
    const con = await d.console("web", false, undefined, tok.token);
    const t0 = Date.now();
    const closed = new Promise<number>((r) => con.ws.once("close", (code) => r(code)));
    assert.equal((await d.api("DELETE", `/v1/tenants/acme/tokens/${tok.id}`)).status, 200);
    const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 2500))]);
    assert.notEqual(code, -1, "closed");
    assert.ok(Date.now() - t0 <= 2000, `closed after ${Date.now() - t0} ms`);
    assert.equal(await d.upgradeStatus("/v1/instances/web/console", tok.token), 401);
  });

  it("the daemon's state is private on disk: database, token and logs 0600, images and kernels not world-readable", async () => {
    assert.equal(statSync(d.stateDir).mode & 0o777, 0o700);
    for (const f of ["umld.db", "umld.db-wal", "umld.db-shm", "admin.token"]) assert.equal(statSync(`${d.stateDir}/${f}`).mode & 0o077, 0, f);
    const web = await d.get("acme.web");
    for (const f of ["console.log", "uml.stderr.log"]) assert.equal(statSync(`${d.stateDir}/instances/${web.id}/${f}`).mode & 0o077, 0, f);
    const image = statSync(web.disks[0]!.backingPath!);
    assert.equal(image.mode & 0o007, 0, "image not world-readable");
    const mode = execFileSync("stat", ["-c", "%a %U", `${d.stateDir}/instances/${web.id}`], { encoding: "utf8" }).trim();
    assert.equal(mode, "700 root", "the instance directory is root's: nothing on the host is the guest's to change but its disk");
  });
});
