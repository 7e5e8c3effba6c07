import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { native } from "../../core/native.js";
import { UmldClient } from "../../client/index.js";
import { socketTransport } from "../../client/node/transports.js";
import { REPO, TestDaemon } from "../harness/daemon.js";

const hasAnalyze = (() => {
  try {
    execFileSync("systemd-analyze", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** Where systemd counts a unit's processes on this host (read here, not from the code under test): cgroup2 at /sys/fs/cgroup, else name=systemd and a hybrid's cgroup2. */
function unitHierarchies(): string[] {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => {
      const [pre, post] = l.split(" - ");
      return { dir: pre?.split(" ")[4] ?? "", type: post?.split(" ")[0] ?? "", opts: post?.split(" ")[2] ?? "" };
    });
  if (mounts.some((m) => m.type === "cgroup2" && m.dir === "/sys/fs/cgroup")) return ["/sys/fs/cgroup"];
  return mounts.filter((m) => (m.type === "cgroup" && m.opts.split(",").includes("name=systemd")) || (m.type === "cgroup2" && m.dir === "/sys/fs/cgroup/unified")).map((m) => m.dir);
}

function procsOf(dir: string): number[] {
  try {
    return readFileSync(`${dir}/cgroup.procs`, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const until = async (what: string, f: () => boolean, ms = 15_000) => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe("umld under systemd", { timeout: 240_000 }, () => {
  const tmp = mkdtempSync("/tmp/umld-sd-");
  const daemons: TestDaemon[] = [];
  const unitDirs: string[] = [];
  after(async () => {
    for (const d of daemons.reverse()) await d.stop().catch(() => {});
    for (const dir of unitDirs) {
      for (const pid of procsOf(dir)) process.kill(pid, "SIGKILL");
      try {
        rmdirSync(dir);
      } catch {
        // gone
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it("the unit files pass systemd-analyze verify", { skip: hasAnalyze ? false : "systemd-analyze is not installed" }, () => {
    const dir = `${tmp}/units`;
    mkdirSync(dir);
    for (const unit of ["umld.service", "umld-guests.service"]) {
      writeFileSync(`${dir}/${unit}`, readFileSync(`${REPO}systemd/${unit}`, "utf8").replaceAll("@REPO@", REPO.replace(/\/$/, "")));
    }
    for (const f of ["dist/daemon/main.js", "dist/cli/umlctl.js"]) chmodSync(`${REPO}${f}`, 0o755); // as scripts/setup leaves them
    const out = execFileSync("systemd-analyze", ["verify", "--man=no", `${dir}/umld.service`, `${dir}/umld-guests.service`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    assert.equal(out.trim(), "", "no warning");
    const unit = readFileSync(`${dir}/umld.service`, "utf8");
    for (const line of ["Type=notify", "NotifyAccess=main", "Restart=on-failure", "KillMode=process"]) assert.ok(unit.includes(`\n${line}\n`), line);
    assert.match(unit, /\nWatchdogSec=\d+s\n/);
    const guests = readFileSync(`${dir}/umld-guests.service`, "utf8");
    assert.match(guests, /\nExecStop=\S+umlctl\.js .*shutdown-guests/);
    assert.ok(!/\n(Requires|BindsTo|PartOf)=umld\.service/.test(guests), "stopping umld must not stop the guests' unit");
  });

  it("sends READY=1 once the API answers and the guests are adopted, then WATCHDOG=1 periodically, STOPPING=1 at the end", async () => {
    const first = await TestDaemon.start({ logLevel: "info" });
    daemons.push(first);
    await first.create("sd-1");
    const pid = (await first.mustAct("sd-1", "start")).pid!;
    await first.kill("SIGTERM"); // guests keep running
    daemons.pop();

    const got: Array<{ text: string; at: number }> = [];
    const atReady: Array<Promise<{ state: string; pid: number | null }>> = [];
    const client = new UmldClient({ transport: socketTransport(`${first.stateDir}/umld.sock`) });
    const sock = new native.Socket((buf) => {
      const text = buf.toString();
      got.push({ text, at: Date.now() });
      // the moment READY=1 arrives, the API must answer, with the guest adopted
      if (/^READY=1$/m.test(text)) atReady.push(client.call("getInstance", { params: { name: "sd-1" } }).then((i) => ({ state: i.state, pid: i.pid })));
    });
    sock.bind(`${tmp}/notify.sock`);
    try {
      const d = await TestDaemon.start({ stateDir: first.stateDir, logLevel: "info", env: { NOTIFY_SOCKET: `${tmp}/notify.sock`, WATCHDOG_USEC: "400000" } });
      daemons.push(d);
      await until("READY=1", () => atReady.length > 0);
      assert.deepEqual(await atReady[0], { state: "running", pid }, "at READY=1 the API answers and the guest is adopted");
      assert.match(got[0]!.text, /^READY=1$/m, "nothing before READY=1");
      assert.match(got[0]!.text, /^STATUS=serving; 1 of 1 instances running$/m);
      assert.match(got[0]!.text, new RegExp(`^MAINPID=${d.proc.pid}$`, "m"));
      const ready = got[0]!.at;
      await until("three keep-alives", () => got.filter((g) => g.text === "WATCHDOG=1").length >= 3);
      const beats = got.filter((g) => g.text === "WATCHDOG=1").map((g) => g.at);
      assert.ok(beats[0]! >= ready, "keep-alives start after READY");
      assert.ok(beats[2]! - beats[0]! >= 250, "every WATCHDOG_USEC/2 (200 ms), not in a burst");
      await d.kill("SIGTERM");
      daemons.pop();
      await until("STOPPING=1", () => got.some((g) => g.text === "STOPPING=1"));
      assert.equal(got.filter((g) => /^READY=1$/m.test(g.text)).length, 1);
      assert.ok(alive(pid), "the guest outlived the daemon");
      const again = await TestDaemon.start({ stateDir: first.stateDir, logLevel: "info" });
      daemons.push(again);
      assert.equal((await again.get("sd-1")).pid, pid);
      await again.mustAct("sd-1", "halt");
    } finally {
      sock.close();
    }
  });

  it("stopping umld as systemd stops a unit leaves its guests running, adopted by the next start", {
    skip: unitHierarchies().length ? false : "no cgroup hierarchy systemd would track units by",
  }, async () => {
    // the unit's cgroup, where systemd puts a service's main process
    const unit = `umldtest-unit-${process.pid}`;
    for (const h of unitHierarchies()) {
      mkdirSync(`${h}/${unit}`);
      unitDirs.push(`${h}/${unit}`);
    }
    const d = await TestDaemon.start({ logLevel: "info", cgroups: unitDirs });
    daemons.push(d);
    for (const dir of unitDirs) assert.ok(procsOf(dir).includes(d.proc.pid!), `the daemon is in the unit's cgroup ${dir}`);
    await d.create("sd-2");
    const pid = (await d.mustAct("sd-2", "start")).pid!;
    const con = await d.shell("sd-2");
    con.close();
    for (const dir of unitDirs) assert.ok(!procsOf(dir).includes(pid), `the guest is not a process of the unit (${dir})`);

    // the harshest stop there is (KillMode=control-group): SIGTERM to every process of the unit, SIGKILL to what is left when the main process is gone
    d.stopping = true;
    const exited = new Promise((r) => d.proc.once("exit", r));
    for (const dir of unitDirs) for (const p of procsOf(dir)) process.kill(p, "SIGTERM");
    await exited;
    for (const dir of unitDirs) for (const p of procsOf(dir)) process.kill(p, "SIGKILL");
    await until("the unit's cgroup to be empty", () => unitDirs.every((dir) => procsOf(dir).length === 0));
    daemons.pop();
    assert.ok(alive(pid), "the guest survived the unit's stop");

    const next = await TestDaemon.start({ stateDir: d.stateDir, logLevel: "info" });
    daemons.push(next);
    const vm = await next.get("sd-2");
    assert.equal(vm.state, "running");
    assert.equal(vm.pid, pid, "adopted, not restarted");
    const shell = await next.shell("sd-2");
    assert.match(await shell.run("echo still-$((20+1))"), /still-21/, "and its console works");
    shell.close();
    await next.mustAct("sd-2", "halt");
  });
});
