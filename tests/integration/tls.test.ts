import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:tls";
import { after, before, describe, it } from "node:test";
import { httpsJson, REPO, TestDaemon } from "../harness/daemon.js";

/** TLS on the TCP listener: a certificate made here (a CA and a server certificate for 127.0.0.1). */
describe("TLS on the TCP listener", { timeout: 120_000 }, () => {
  let d: TestDaemon;
  let dir: string;
  let ca: Buffer;
  before(async () => {
    dir = mkdtempSync("/tmp/umld-tls-");
    const o = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    o(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=umld test CA"]);
    o(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
    writeFileSync(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1\n");
    o(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"]);
    o(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days", "2", "-subj", "/CN=another CA"]);
    ca = readFileSync(`${dir}/ca.pem`);
    d = await TestDaemon.start({ logLevel: "info", args: ["--tls-cert", `${dir}/server.pem`, "--tls-key", `${dir}/server.key`], ca });
  });
  after(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers over TLS with the given certificate, needs the token there too, and refuses plain HTTP", async () => {
    assert.match(d.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await d.api("GET", "/v1/instances");
    assert.equal(ok.status, 200);
    assert.equal((await d.api("GET", "/v1/instances", undefined, { token: null })).status, 401);
    const port = Number(new URL(d.url).port);
    const served = await new Promise<X509Certificate>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, ca }, () => {
        resolve(new X509Certificate(s.getPeerX509Certificate()!.raw));
        s.end();
      });
      s.on("error", reject);
    });
    assert.equal(served.fingerprint256, new X509Certificate(readFileSync(`${dir}/server.pem`)).fingerprint256);
    await assert.rejects(httpsJson(`${d.url}/v1/health`, "GET", {}, undefined, readFileSync(`${dir}/other.pem`)), /certificate/, "a client trusting another CA does not get through");
    const plain = await new Promise<string>((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: "/v1/health", method: "GET" }, (res) => resolve(String(res.statusCode)));
      req.on("error", (e) => resolve(`error: ${e.message}`));
      req.end();
    });
    assert.notEqual(plain, "200", "plain HTTP gets no answer from the API");
  });

  it("umlctl talks to it with an https URL, trusting the CA through NODE_EXTRA_CA_CERTS", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [`${REPO}dist/cli/umlctl.js`, "--url", d.url, "--token", d.token, "ls"], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: `${dir}/ca.pem` },
      timeout: 30_000,
    });
    assert.match(stdout, /no instances/);
  });

  it("WebSockets run over the same TLS listener", async () => {
    assert.equal(await d.upgradeStatus("/v1/events"), 101);
    assert.equal(await d.upgradeStatus("/v1/events", null), 401);
  });
});
