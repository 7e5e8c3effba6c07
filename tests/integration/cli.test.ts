import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { REPO, TestDaemon } from "../harness/daemon.js";

const run = promisify(execFile);
const UMLCTL = `${REPO}dist/cli/umlctl.js`;

describe("umlctl", { timeout: 300_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start();
  });
  after(async () => {
    await d?.stop();
  });
  const until = async <T>(f: () => Promise<T | undefined | null | false>, ms = 30_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v) return v;
      if (Date.now() > end) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 300));
    }
  };
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
    assert.match((await ctl("limits", "cli-2", "--cpus", "0.5", "--pids", "100")).stdout, /cli-2: \{"cpus":0.5,"cpuWeight":null,"ioWeight":null,"pids":100,"netMbit":null\}/);
    assert.match((await ctl("limits", "cli-2", "--cpus", "none")).stdout, /"cpus":null/);
    assert.match((await ctl("reclaim", "cli-2", "auto")).stdout, /cli-2: memory reclaim auto/);
    assert.match((await ctl("disk", "attach", "cli-2", "vol1", "--size", "16")).stdout, /vol1 attached to cli-2 as \/dev\/ubdb \(live\)/);
    assert.match((await ctl("disk", "ls")).stdout, /^vol1\s+raw\s+16M\s+cli-2:ubdb$/m);
    assert.match((await ctl("mconsole", "cli-2", "proc", "partitions")).stdout, /ubdb/);
    assert.match((await ctl("disk", "detach", "cli-2", "ubdb")).stdout, /vol1 detached from cli-2 \(ubdb\)/);
    assert.match((await ctl("guest", "cli-2")).stdout, /^cli-2: up \d+ s, load [\d.]+ [\d.]+ [\d.]+, memory \d+ of \d+ MiB free$/m);
    assert.match((await ctl("channel", "add", "cli-2", "ssl3")).stdout, /cli-2: ssl3 added \(guest \/dev\/ttyS3\)/);
    assert.match((await ctl("channel", "ls", "cli-2")).stdout, /^ssl3\s+\/dev\/ttyS3\s+\/dev\/pts\/\d+$/m);
    assert.match((await ctl("channel", "rm", "cli-2", "ssl3")).stdout, /cli-2: ssl3 removed/);
    assert.match((await ctl("kernel", "ls")).stdout, /^default\s+6\.1\.\d+\s+[0-9a-f]{12}\s+yes$/m);
    const refused = await ctlFails(["--state-dir", d.stateDir, "mconsole", "cli-2", "sysrq", "t"]);
    assert.match(refused.stderr, /mconsole_refused/);
    await ctl("halt", "cli-2");
  });

  it("takes snapshots, clones, merges and lists images, showing progress", async () => {
    await ctl("create", "cli-3");
    const snap = await ctl("snapshot", "create", "cli-3", "first");
    assert.match(snap.stdout, /cli-3: snapshot first taken/);
    assert.match(snap.stderr, /\[#+-*\] \d+% [\d.]+\/64\.0 MiB flatten/, "a progress bar");
    assert.match((await ctl("snapshot", "ls", "cli-3")).stdout, /^first\s/m);
    assert.match((await ctl("clone", "cli-3", "cli-3b", "--snapshot", "first")).stdout, /cloned cli-3 into cli-3b from snapshot first/);
    assert.match((await ctl("disk", "merge", "cli-3b", "cli-3b-flat")).stdout, /cli-3b: merged into image cli-3b-flat/);
    const images = (await ctl("image", "ls")).stdout;
    assert.match(images, /^busybox\s+built-in\s+64M/m);
    assert.match(images, /^cli-3b-flat\s+merged\s+64M\s+\d+M\s+1\s+-$/m);
    assert.match(
      (await ctl("set", "cli-3", "--restart", "on-failure", "--autostart", "--hang-timeout", "10", "--on-hang", "reset")).stdout,
      /"autostart":true.*"restartPolicy":"on-failure","hangTimeoutS":10,"onHang":"reset"/,
    );
    assert.match((await ctl("set", "cli-3", "--net-mbit", "20")).stdout, /"limits":\{"cpus":null,"cpuWeight":null,"ioWeight":null,"pids":null,"netMbit":20\}/);
    assert.match((await ctl("set", "cli-3", "--net-mbit", "none")).stdout, /"limits":\{"cpus":null,"cpuWeight":null,"ioWeight":null,"pids":null,"netMbit":null\}/);
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
    assert.match((await ctl("audit", "acme")).stdout, /acme:ops\s+deleteInstance\s+instances\/acme\.box\s+403\s+forbidden/);
    assert.match((await ctl("--tenant", "acme", "net", "create", "dev", "--kind", "user", "--host-access")).stdout, /created network dev \(user, NAT, host access, 10\.0\.2\.0\/24/);
    assert.match((await ctl("net", "ls")).stdout, /^acme\.dev\s+user\+nat\+host\s/m);
    const netToken = (await ctl("token", "create", "acme", "net", "--actions", "read,network")).stdout.trim();
    const opened = await ctlFails(["--url", d.url, "--token", netToken, "net", "create", "mine", "--kind", "user", "--host-access"]);
    assert.match(opened.stderr, /forbidden: host access for a user network is granted by admins/);
    await ctl("net", "rm", "acme.dev");
    const id = (await ctl("token", "ls", "acme", "-c", "id,name", "--format", "csv", "--no-headers")).stdout
      .split("\n")
      .find((l) => l.endsWith(",ops"))!
      .split(",")[0]!;
    assert.match((await ctl("token", "revoke", "acme", id)).stdout, /revoked/);
    assert.match((await ctlFails(["--url", d.url, "--token", token, "ls"])).stderr, /unauthorized/);
    await ctl("rm", "acme.box");
    assert.match((await ctl("tenant", "rm", "acme")).stdout, /deleted tenant acme/);
  });
  it("prints every list as a table, JSON, YAML or CSV, -c picking and ordering the columns", async () => {
    await ctl("create", "fmt-1", "--memory", "48");
    const table = (await ctl("ls", "-c", "memory,name")).stdout;
    assert.match(table, /^MEMORY\s+NAME$/m);
    assert.match(table, /^48M\s+fmt-1$/m);
    const raw = JSON.parse((await ctl("ls", "--format", "json")).stdout);
    assert.ok(
      raw.instances.some((i: { name: string; memoryMiB: number }) => i.name === "fmt-1" && i.memoryMiB === 48),
      "without -c: the API's answer",
    );
    const picked = JSON.parse((await ctl("ls", "--format", "json", "-c", "name,memory")).stdout);
    assert.deepEqual(
      picked.find((r: { name: string }) => r.name === "fmt-1"),
      { name: "fmt-1", memory: 48 },
    );
    const yaml = parseYaml((await ctl("ls", "--format", "yaml", "-c", "name,state,lastExit")).stdout);
    assert.deepEqual(
      yaml.find((r: { name: string }) => r.name === "fmt-1"),
      { name: "fmt-1", state: "stopped", lastExit: null },
    );
    const csv = (await ctl("ls", "--format", "csv", "-c", "name,state,lastExit")).stdout.split("\n");
    assert.equal(csv[0], "name,state,lastExit");
    assert.ok(csv.includes("fmt-1,stopped,"));
    assert.equal(parseYaml((await ctl("show", "fmt-1", "--format", "yaml")).stdout).memoryMiB, 48);
    for (const list of [
      ["ls"],
      ["disk", "ls"],
      ["image", "ls"],
      ["kernel", "ls"],
      ["net", "ls"],
      ["tenant", "ls"],
      ["audit"],
      ["snapshot", "ls", "fmt-1"],
      ["channel", "ls", "fmt-1"],
      ["usage", "fmt-1"],
      ["top", "--once"],
    ]) {
      const j = (await ctl(...list, "--format", "json")).stdout;
      assert.doesNotThrow(() => JSON.parse(j), `${list.join(" ")} --format json`);
      const y = (await ctl(...list, "--format", "yaml")).stdout;
      assert.deepEqual(parseYaml(y), JSON.parse(j), `${list.join(" ")} --format yaml says what json says`);
      const c = (await ctl(...list, "--format", "csv")).stdout;
      assert.match(c.split("\n")[0]!, /^[a-zA-Z][a-zA-Z0-9]*(,[a-zA-Z][a-zA-Z0-9]*)*$/, `${list.join(" ")} --format csv starts with its header`);
    }
    const badColumn = await ctlFails(["--state-dir", d.stateDir, "ls", "-c", "name,nope"]);
    assert.equal(badColumn.code, 2);
    assert.match(badColumn.stderr, /no column 'nope': choose from name, state, ready, memory/);
    assert.match((await ctlFails(["--state-dir", d.stateDir, "ls", "--format", "xml"])).stderr, /--format must be one of table, json, yaml, csv/);
  });

  it("completion scripts load in bash and complete commands, subcommands, flags and instance names", async () => {
    const loaded = await run("bash", ["-c", `source <(${process.execPath} ${UMLCTL} completion bash); complete -p umlctl`]);
    assert.match(loaded.stdout, /^complete -F _umlctl umlctl$/m);
    // umlctl on the PATH, as an admin's shell would have it; the daemon named on the command line being completed
    const bin = mkdtempSync("/tmp/umld-cli-bin-");
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, UMLD_STATE_DIR: "/nonexistent" };
    try {
      writeFileSync(`${bin}/umlctl`, `#!/bin/sh\nexec ${process.execPath} ${UMLCTL} "$@"\n`, { mode: 0o755 });
      const complete = async (...words: string[]) => {
        const script = `source <(umlctl completion bash); COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _umlctl; echo "\${COMPREPLY[*]}"`;
        return (await run("bash", ["-c", script], { env })).stdout.trim();
      };
      const sd = ["--state-dir", d.stateDir];
      assert.equal(await complete("umlctl", "snaps"), "snapshot");
      assert.equal(await complete("umlctl", "disk", "de"), "detach");
      assert.equal(await complete("umlctl", "ls", "--form"), "--format");
      assert.equal(await complete("umlctl", "ls", "--no-h"), "--no-headers", "a list's own flags");
      assert.equal(await complete("umlctl", "start", "--no-h"), "", "not on a command that lists nothing");
      assert.equal(await complete("umlctl", "ls", "--format", "c"), "csv");
      assert.equal(await complete("umlctl", ...sd, "start", "fmt-"), "fmt-1", "instance names come from the daemon named by --state-dir");
      assert.equal(await complete("umlctl", ...sd, "-c", "name", "snapshot", "ls", "fmt-"), "fmt-1", "a flag's value is not the command");
      assert.equal(await complete("umlctl", "start", "fmt-"), "", "another state dir (UMLD_STATE_DIR): no daemon, no names, no noise");
      // zsh: the script parses, and its function completes with compadd/_describe stubbed (no interactive shell here)
      const zsh = await run(
        "zsh",
        [
          "-c",
          `compdef() { :; }; compadd() { echo "compadd $*"; }; _describe() { echo "describe \${(P)2}"; }
source <(umlctl completion zsh)
words=(umlctl ${sd.join(" ")} start fmt-); CURRENT=5; PREFIX=fmt-; _umlctl
words=(umlctl disk ''); CURRENT=3; PREFIX=''; _umlctl`,
        ],
        { env },
      ).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? null : Promise.reject(e)));
      if (zsh) {
        const [names, subs] = zsh.stdout.trim().split("\n");
        assert.match(names!, /^compadd -- (\S+ )*fmt-1( |$)/, "zsh filters by PREFIX itself: every name is offered");
        assert.equal(subs, "compadd -- ls attach detach merge");
      }
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
    assert.match((await ctl("completion", "zsh")).stdout, /^#compdef umlctl/);
  });

  it("shows live usage (top --once), a guest's usage and console log, replays events, and shuts guests down for the host", async () => {
    await ctl("start", "fmt-1");
    const top = (await ctl("top", "--once")).stdout;
    assert.match(top, /^umld: \d+ instances, \d+ running; readings every \d+ s$/m);
    assert.match(top, /^NAME\s+STATE\s+CPU\s+MEMORY\s+HOST\s+GUEST AVAIL\s+RX\s+TX$/m);
    const usage = await until(async () => {
      const r = JSON.parse((await ctl("top", "--once", "--format", "json")).stdout);
      return r.instances.find((i: { name: string; sample: { cpuPercent: number | null } | null }) => i.name === "fmt-1" && i.sample && i.sample.cpuPercent !== null);
    });
    assert.equal(usage.sample.memoryTargetBytes, 48 * 1048576);
    assert.match((await ctl("top", "--once")).stdout, /^fmt-1\s+running\s+[\d.]+%\s+48M\s+\d+M\s/m);
    const log = (await ctl("log", "fmt-1", "--tail", "5")).stdout;
    assert.ok(log.length > 0 && log.split("\n").length <= 6, "the console log's last lines");
    const events = execFile(process.execPath, [UMLCTL, "--state-dir", d.stateDir, "events", "--since", "0", "--type", "instance.created"]);
    let lines = "";
    events.stdout!.on("data", (c) => (lines += c));
    await until(async () => lines.includes('"instance":"fmt-1"'));
    events.kill();
    const first = JSON.parse(lines.split("\n")[0]!);
    assert.equal(first.type, "instance.created");
    assert.ok(first.seq >= 1);
    const missed = await ctlFails(["--state-dir", d.stateDir, "events", "--since", "999999999"]);
    assert.match(missed.stderr, /events_expired: seq 999999999 was never issued/);
    assert.match((await ctl("shutdown-guests", "--deadline", "30")).stdout, /^\d+ shut down \(.*fmt-1.*\), 0 halted$/m);
    assert.equal((await d.get("fmt-1")).state, "stopped");
  });
});
