import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { REPO, TestDaemon } from "../harness/daemon.js";

const run = promisify(execFile);
const UMLCTL = `${REPO}dist/cli/umlctl.js`;

describe("umlctl", { timeout: 120_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start();
  });
  after(async () => {
    await d?.stop();
  });
  const ctl = (...args: string[]) => run(process.execPath, [UMLCTL, "--state-dir", d.stateDir, ...args], { timeout: 60_000 });
  const ctlFails = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    try {
      await run(process.execPath, [UMLCTL, ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
    } catch (e) {
      return e as { code: number; stderr: string };
    }
    assert.fail(`umlctl ${args.join(" ")} succeeded`);
  };

  it("creates, starts, lists, types into the console, halts and removes over the unix socket", async () => {
    assert.match((await ctl("create", "cli-1", "--memory", "96")).stdout, /created cli-1 \(96M/);
    assert.match((await ctl("start", "cli-1")).stdout, /cli-1: running \(ready\)/);
    const ls = (await ctl("ls")).stdout;
    assert.match(ls, /^NAME\s+STATE/m);
    assert.match(ls, /^cli-1\s+running\s+yes\s+96M/m);
    const shown = JSON.parse((await ctl("show", "cli-1")).stdout);
    assert.equal(shown.state, "running");
    // console with stdin from a pipe: the typed line runs in the guest, the CLI exits at EOF
    const child = execFile(process.execPath, [UMLCTL, "--state-dir", d.stateDir, "console", "cli-1", "--no-scrollback"]);
    let out = "";
    child.stdout!.on("data", (x) => (out += x));
    setTimeout(() => child.stdin!.write("echo from-cli-$((6*6))\n"), 500);
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (out.includes("from-cli-36")) {
          clearInterval(t);
          child.stdin!.end();
          resolve();
        }
      }, 50);
      setTimeout(() => reject(new Error(`no output: ${out}`)), 15_000);
    });
    await new Promise((r) => child.once("exit", r));
    assert.match((await ctl("halt", "cli-1")).stdout, /cli-1: stopped — halted/);
    assert.match((await ctl("rm", "cli-1")).stdout, /deleted cli-1/);
    assert.equal((await d.api("GET", "/v1/instances/cli-1")).status, 404);
  });

  it("changes memory, disks and reads the guest live; lists kernels; passes mconsole commands", async () => {
    await ctl("create", "cli-2", "--memory", "128");
    await ctl("start", "cli-2");
    assert.match((await ctl("mem", "cli-2", "80")).stdout, /cli-2: 80 MiB of 128 \(requested 80; guest MemFree \d+ MiB\)/);
    assert.match((await ctl("disk", "attach", "cli-2", "vol1", "--size", "16")).stdout, /vol1 attached to cli-2 as \/dev\/ubdb \(live\)/);
    assert.match((await ctl("disk", "ls")).stdout, /^vol1\traw\t16M\tcli-2:ubdb$/m);
    assert.match((await ctl("mconsole", "cli-2", "proc", "partitions")).stdout, /ubdb/);
    assert.match((await ctl("disk", "detach", "cli-2", "ubdb")).stdout, /vol1 detached from cli-2 \(ubdb\)/);
    assert.match((await ctl("guest", "cli-2")).stdout, /^cli-2: up \d+ s, load [\d.]+ [\d.]+ [\d.]+, memory \d+ of \d+ MiB free$/m);
    assert.match((await ctl("channel", "add", "cli-2", "ssl3")).stdout, /cli-2: ssl3 added \(guest \/dev\/ttyS3\)/);
    assert.match((await ctl("channel", "ls", "cli-2")).stdout, /^ssl3\t\/dev\/ttyS3\t\/dev\/pts\/\d+$/m);
    assert.match((await ctl("channel", "rm", "cli-2", "ssl3")).stdout, /cli-2: ssl3 removed/);
    assert.match((await ctl("kernel", "ls")).stdout, /^default\t6\.1\.\d+\t[0-9a-f]{12}\tdefault$/m);
    const refused = await ctlFails(["--state-dir", d.stateDir, "mconsole", "cli-2", "sysrq", "t"]);
    assert.match(refused.stderr, /mconsole_refused/);
    await ctl("halt", "cli-2");
  });

  it("takes snapshots, clones, merges and lists images, showing progress", async () => {
    await ctl("create", "cli-3");
    const snap = await ctl("snapshot", "create", "cli-3", "first");
    assert.match(snap.stdout, /cli-3: snapshot first taken/);
    assert.match(snap.stderr, /\[#+-*\] \d+% [\d.]+\/64\.0 MiB flatten/, "a progress bar");
    assert.match((await ctl("snapshot", "ls", "cli-3")).stdout, /^first\t/m);
    assert.match((await ctl("clone", "cli-3", "cli-3b", "--snapshot", "first")).stdout, /cloned cli-3 into cli-3b from snapshot first/);
    assert.match((await ctl("disk", "merge", "cli-3b", "cli-3b-flat")).stdout, /cli-3b: merged into image cli-3b-flat/);
    const images = (await ctl("image", "ls")).stdout;
    assert.match(images, /^busybox\tbuilt-in\t64M/m);
    assert.match(images, /^cli-3b-flat\tmerged\t64M\t\d+M used\t1 dependants$/m);
    assert.match((await ctl("set", "cli-3", "--restart", "on-failure", "--autostart", "--hang-timeout", "10", "--on-hang", "reset")).stdout,
      /"autostart":true.*"restartPolicy":"on-failure","hangTimeoutS":10,"onHang":"reset"/);
    assert.match((await ctl("set", "cli-3", "--net-mbit", "20")).stdout, /"limits":\{"netMbit":20\}/);
    assert.match((await ctl("set", "cli-3", "--net-mbit", "none")).stdout, /"limits":\{"netMbit":null\}/);
    const refused = await ctlFails(["--state-dir", d.stateDir, "snapshot", "rm", "cli-3", "nope"]);
    assert.match(refused.stderr, /snapshot_not_found/);
  });

  it("uses TCP with a token, and reports API errors with their code and exit status 1", async () => {
    const ok = await run(process.execPath, [UMLCTL, "--url", d.url, "--token", d.token, "version"]);
    assert.equal(JSON.parse(ok.stdout).protocolVersion, 1);
    const denied = await ctlFails(["--url", d.url, "--token", "umld_wrong", "ls"]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /unauthorized/);
    const bad = await ctlFails(["--state-dir", d.stateDir, "create", "Not_OK"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid_request: .*body\.name/);
    const wrongState = await ctlFails(["--state-dir", d.stateDir, "pause", "nope"]);
    assert.match(wrongState.stderr, /instance_not_found/);
    const noDaemon = await ctlFails(["--state-dir", "/tmp/umld-no-such-dir", "ls"]);
    assert.match(noDaemon.stderr, /cannot reach umld/);
  });

  it("manages tenants and tokens; a tenant's token works over TCP with its names; the audit log shows it", async () => {
    assert.match((await ctl("tenant", "create", "acme", "--max-instances", "2")).stdout, /created tenant acme/);
    const token = (await ctl("token", "create", "acme", "ops", "--actions", "read,create,console,reboot")).stdout.trim();
    assert.match(token, /^umld_[0-9a-f]{16}_[0-9a-f]{64}$/);
    const asTenant = (...args: string[]) => run(process.execPath, [UMLCTL, "--url", d.url, "--token", token, ...args], { timeout: 60_000 });
    assert.match((await asTenant("create", "box")).stdout, /created box/);
    assert.match((await ctl("ls")).stdout, /^acme\.box\s/m, "the admin sees the stored name");
    assert.match((await ctl("--tenant", "acme", "ls")).stdout, /^box\s/m, "an admin acting for the tenant sees its names");
    assert.match((await ctl("tenant", "show", "acme")).stdout, /instances 1\/2/);
    const refused = await ctlFails(["--url", d.url, "--token", token, "rm", "box"]);
    assert.match(refused.stderr, /forbidden/);
    assert.match((await ctl("audit", "acme")).stdout, /acme:ops\tdeleteInstance\tinstances\/acme\.box\t403 forbidden/);
    assert.match((await ctl("--tenant", "acme", "net", "create", "dev", "--kind", "user", "--host-access")).stdout, /created network dev \(user, NAT, host access, 10\.0\.2\.0\/24/);
    assert.match((await ctl("net", "ls")).stdout, /^acme\.dev\tuser\+nat\+host\t/m);
    const netToken = (await ctl("token", "create", "acme", "net", "--actions", "read,network")).stdout.trim();
    const opened = await ctlFails(["--url", d.url, "--token", netToken, "net", "create", "mine", "--kind", "user", "--host-access"]);
    assert.match(opened.stderr, /forbidden: host access for a user network is granted by admins/);
    await ctl("net", "rm", "acme.dev");
    const id = (await ctl("token", "ls", "acme")).stdout.split("\n").find((l) => l.split("\t")[1] === "ops")!.split("\t")[0]!;
    assert.match((await ctl("token", "revoke", "acme", id)).stdout, /revoked/);
    assert.match((await ctlFails(["--url", d.url, "--token", token, "ls"])).stderr, /unauthorized/);
    await ctl("rm", "acme.box");
    assert.match((await ctl("tenant", "rm", "acme")).stdout, /deleted tenant acme/);
  });
});
