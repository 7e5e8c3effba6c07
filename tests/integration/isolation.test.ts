import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestDaemon } from "../harness/daemon.js";

/** Who is admin on the local socket, and the one host directory an admin may grant a guest. */
describe("local admin and granted host directories", { timeout: 240_000 }, () => {
  let d: TestDaemon;
  let tenantToken: string;
  before(async () => {
    d = await TestDaemon.start({ logLevel: "info" });
    assert.equal((await d.api("POST", "/v1/tenants", { name: "acme" })).status, 201);
    tenantToken = (await d.api("POST", "/v1/tenants/acme/tokens", { name: "t" })).body.token;
    assert.equal((await d.api("POST", "/v1/instances", { name: "web" }, { token: tenantToken })).status, 201);
  });
  after(async () => {
    await d?.stop();
  });

  it("the local socket is admin for root only: another uid that reaches it is refused (SO_PEERCRED)", async () => {
    const sock = `${d.stateDir}/umld.sock`;
    assert.equal(statSync(sock).mode & 0o777, 0o600, "root only by its mode");
    chmodSync(sock, 0o666); // pretend the modes were wrong (the socket's, and the state dir's 0700): the peer's uid still decides
    chmodSync(d.stateDir, 0o711);
    try {
      const asNobody = (path: string) =>
        execFileSync(
          "setpriv",
          [
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            process.execPath,
            "-e",
            `require("http").get({ socketPath: ${JSON.stringify(sock)}, path: ${JSON.stringify(path)} }, (r) => console.log(r.statusCode))`,
          ],
          { encoding: "utf8" },
        ).trim();
      assert.equal(asNobody("/v1/instances"), "401");
      const asRoot = execFileSync(process.execPath, ["-e", `require("http").get({ socketPath: ${JSON.stringify(sock)}, path: "/v1/instances" }, (r) => console.log(r.statusCode))`], {
        encoding: "utf8",
      }).trim();
      assert.equal(asRoot, "200");
    } finally {
      chmodSync(sock, 0o600);
      chmodSync(d.stateDir, 0o700);
    }
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
