import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { lookupUser } from "../../core/guest/identity.js";
import { guestPids, TestDaemon } from "../harness/daemon.js";

function status(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .map((l) => l.split(":\t"))
      .filter((kv) => kv.length === 2)
      .map(([k, v]) => [k!, v!.trim()]),
  );
}

/** Guests as unprivileged host processes, confined to their own files. */
describe("guest isolation on the host", { timeout: 240_000 }, () => {
  let d: TestDaemon;
  let tenantToken: string;
  const sentinel = `/tmp/umld-hostfs-sentinel-${process.pid}`;
  before(async () => {
    writeFileSync(sentinel, "host secret\n", { mode: 0o644 });
    d = await TestDaemon.start({ logLevel: "info" });
    assert.equal((await d.api("POST", "/v1/tenants", { name: "acme" })).status, 201);
    tenantToken = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "t" })).body.token;
  });
  after(async () => {
    rmSync(sentinel, { force: true });
    await d?.stop();
  });

  it("a tenant's guest runs as the unprivileged guest user: every host process of it, no capabilities, no core files", async () => {
    const guest = lookupUser("umld-guest");
    assert.ok(guest && guest.uid !== 0, "the daemon made its guest user");
    assert.equal((await d.api("POST", "/v1/instances", { name: "web" }, { token: tenantToken })).status, 201);
    assert.equal((await d.api("PUT", "/v1/instances/web/state", { action: "start" }, { token: tenantToken })).status, 200);
    const vm = (await d.api("GET", "/v1/instances/acme.web")).body;
    const pids = guestPids(d.stateDir, vm.id);
    assert.ok(pids.includes(vm.pid) && pids.length >= 2, `UML main process and its helpers: ${pids}`);
    let checked = 0;
    for (const pid of pids) {
      let s: Record<string, string>;
      try {
        s = status(pid);
      } catch {
        continue; // a guest process that exited meanwhile (guest programs are host processes)
      }
      checked++;
      assert.equal(s.Uid, `${guest.uid}\t${guest.uid}\t${guest.uid}\t${guest.uid}`, `pid ${pid} uid`);
      assert.equal(s.Gid, `${guest.gid}\t${guest.gid}\t${guest.gid}\t${guest.gid}`, `pid ${pid} gid`);
      assert.equal(s.CapEff, "0000000000000000");
      assert.equal(s.CapBnd, "0000000000000000", "no capability can come back (empty bounding set)");
      assert.equal(s.NoNewPrivs, "1", "setuid binaries cannot raise it");
    }
    assert.ok(checked >= 2 && status(vm.pid).Uid !== undefined, `checked ${checked} processes, the main one included`);
    assert.match(readFileSync(`/proc/${vm.pid}/limits`, "utf8"), /Max core file size\s+0\s+0/);
    const dir = statSync(`${d.stateDir}/instances/${vm.id}`);
    assert.deepEqual([dir.uid, dir.mode & 0o777], [guest.uid, 0o700], "its own directory, closed to others");
    const state = statSync(d.stateDir);
    assert.equal(state.mode & 0o777, 0o711, "the state dir can be passed through, not listed");
  });

  it("the guest cannot reach a host path: hostfs is confined to an empty directory it cannot even open", async () => {
    const con = await d.console("web", true, undefined, tenantToken);
    await con.waitFor("web:/# ", 20_000);
    const out = await con.run(`mkdir -p /mnt/h; mount -t hostfs none /mnt/h -o ${sentinel}; echo mount=$?; cat /mnt/h 2>&1; ls -la /mnt/h 2>&1 | head -5; mount -t hostfs none /mnt/h -o /tmp 2>&1; ls /mnt/h 2>&1 | head -5; mount -t hostfs none /mnt/h -o ../../../../../tmp 2>&1; ls /mnt/h 2>&1 | head -5`);
    assert.doesNotMatch(out, /host secret/, out);
    assert.doesNotMatch(out, new RegExp(sentinel.split("/").pop()!), out);
    con.close();
  });

  it("a tenant cannot smuggle a host path or a kernel option through names, disks or boot options", async () => {
    const tries: Array<[string, string, unknown]> = [
      ["POST", "/v1/instances/web/disks", { disk: "../../../etc/shadow" }],
      ["POST", "/v1/instances/web/disks", { disk: "/etc/shadow" }],
      ["POST", "/v1/instances/web/disks", { disk: "x,ubd2=/etc/shadow", sizeMiB: 8 }],
      ["POST", "/v1/instances", { name: "a,ubd1=/etc/shadow" }],
      ["POST", "/v1/instances", { name: "ok", bootOptions: ["hostfs=/"] }],
      ["POST", "/v1/instances", { name: "ok", bootOptions: ["ubd1=/etc/shadow"] }],
      ["POST", "/v1/instances", { name: "ok", bootOptions: ["x y"] }],
      ["POST", "/v1/instances", { name: "ok", image: "../images/busybox" }],
      ["POST", "/v1/instances/web/mconsole", { command: "config", args: "ubd3=/etc/shadow", force: true }],
    ];
    for (const [method, path, body] of tries) {
      const r = await d.api(method, path, body, { token: tenantToken });
      assert.ok(r.status === 400 || r.status === 403, `${path} ${JSON.stringify(body)}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    assert.equal((await d.api("GET", "/v1/disks")).body.disks.filter((x: { role: string }) => x.role === "data").length, 0, "no data disk was made");
  });

  it("the local socket is admin for root only: another uid that reaches it is refused (SO_PEERCRED)", async () => {
    const sock = `${d.stateDir}/umld.sock`;
    assert.equal(statSync(sock).mode & 0o777, 0o600, "root only by its mode");
    chmodSync(sock, 0o666); // pretend the mode were wrong: the peer's uid still decides
    try {
      const asNobody = (path: string) =>
        execFileSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e",
          `require("http").get({ socketPath: ${JSON.stringify(sock)}, path: ${JSON.stringify(path)} }, (r) => console.log(r.statusCode))`], { encoding: "utf8" }).trim();
      assert.equal(asNobody("/v1/instances"), "401");
      const asRoot = execFileSync(process.execPath, ["-e", `require("http").get({ socketPath: ${JSON.stringify(sock)}, path: "/v1/instances" }, (r) => console.log(r.statusCode))`], { encoding: "utf8" }).trim();
      assert.equal(asRoot, "200");
    } finally {
      chmodSync(sock, 0o600);
    }
  });

  it("a tenant with its own uid/gid gets its guests run as that", async () => {
    const r = await d.api("POST", "/v1/tenants", { name: "solo", guestUser: { uid: 64123, gid: 64123 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const tok = (await d.api("POST", "/v1/tenants/solo/tokens", { name: "t" })).body.token;
    assert.equal((await d.api("POST", "/v1/instances", { name: "own" }, { token: tok })).status, 201);
    assert.equal((await d.api("PUT", "/v1/instances/own/state", { action: "start" }, { token: tok })).status, 200);
    const vm = (await d.api("GET", "/v1/instances/solo.own")).body;
    assert.match(status(vm.pid).Uid ?? "", /^64123\t/);
    assert.equal((await d.api("PUT", "/v1/instances/own/state", { action: "halt" }, { token: tok })).status, 200);
    const root = await d.api("POST", "/v1/tenants", { name: "bad", guestUser: { uid: 0, gid: 0 } });
    assert.equal(root.status, 400, "never root");
    await d.api("PUT", "/v1/instances/acme.web/state", { action: "halt" });
  });

  it("an admin can grant one host directory to a guest's hostfs; tenants cannot", async () => {
    const shared = mkdtempSync("/tmp/umld-granted-");
    try {
      chmodSync(shared, 0o755);
      writeFileSync(`${shared}/hello.txt`, "granted by the admin\n", { mode: 0o644 });
      const tenant = await d.api("PATCH", "/v1/instances/web", { hostfsDir: shared }, { token: tenantToken });
      assert.equal(tenant.status, 403);
      for (const bad of ["/tmp/../etc", "relative/dir", "/tmp/x,y", d.stateDir, "/", "/nonexistent-umld-dir"]) {
        const r = await d.api("PATCH", "/v1/instances/acme.web", { hostfsDir: bad });
        assert.equal(r.status, 400, `${bad}: ${JSON.stringify(r.body)}`);
      }
      const ok = await d.api("PATCH", "/v1/instances/acme.web", { hostfsDir: shared });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.instance.hostfsDir, shared);
      assert.equal((await d.api("PUT", "/v1/instances/acme.web/state", { action: "start" })).status, 200);
      const con = await d.console("acme.web");
      await con.waitFor("web:/# ", 20_000);
      const out = await con.run("mkdir -p /mnt/g; mount -t hostfs none /mnt/g && cat /mnt/g/hello.txt; touch /mnt/g/new 2>&1; echo touched=$?");
      assert.match(out, /granted by the admin/);
      assert.match(out, /touched=1/, "as the guest user: the directory is not its to write");
      con.close();
      assert.equal((await d.api("PUT", "/v1/instances/acme.web/state", { action: "halt" })).status, 200);
      assert.equal((await d.api("PATCH", "/v1/instances/acme.web", { hostfsDir: null })).body.instance.hostfsDir, null);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });
});
