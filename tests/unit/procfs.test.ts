import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { isGuestProcess, processesWithUmid, processGroup, processUid, switchProcesses, umlMainPids, umlOption, umlProcessesUnder } from "../../core/host/procfs.js";

/** A process whose command line looks like a UML guest's (node ignores the extra arguments). */
function fakeGuest(args: string[], detached: boolean): ChildProcess {
  return spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)", ...args], { detached, stdio: "ignore" });
}

describe("procfs: the one place that asks /proc which processes are guests", () => {
  const dir = `/tmp/umld-procfs-${process.pid}`;
  const umid = `u${process.pid}`;
  let leader: ChildProcess;
  let helper: ChildProcess;
  let sw: ChildProcess;
  before(async () => {
    leader = fakeGuest([`umid=${umid}`, `uml_dir=${dir}/instances/${umid}/run/`], true);
    helper = fakeGuest([`umid=${umid}`, `uml_dir=${dir}/instances/${umid}/run/`], false); // not its group's leader
    sw = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)", `${dir}/net/n1/ctl`], { argv0: "/usr/bin/uml_switch", stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 200)); // the exec'd command lines
  });
  after(() => {
    for (const c of [leader, helper, sw]) c.kill("SIGKILL");
  });

  it("finds a guest's processes by uml_dir and umid, and its main pid as the leader of its group", () => {
    assert.deepEqual(umlProcessesUnder(`${dir}/instances`).sort(), [leader.pid!, helper.pid!].sort());
    assert.deepEqual(umlProcessesUnder(`${dir}/instances`, "other"), []);
    assert.deepEqual(umlProcessesUnder(`${dir}/inst`), [], "a prefix of the directory is not it");
    assert.equal(processGroup(leader.pid!), leader.pid);
    const mains = umlMainPids((argv) => umlOption(argv, "uml_dir")?.startsWith(`${dir}/`) ?? false);
    assert.deepEqual([...mains], [[umid, leader.pid]]);
  });

  it("a guest is its umid and its uid together: a forged command line under another uid is not it", () => {
    const uid = processUid(leader.pid!);
    assert.equal(uid, process.getuid!());
    assert.ok(isGuestProcess(leader.pid!, { umid, uid }));
    assert.ok(!isGuestProcess(leader.pid!, { umid, uid: uid! + 1 }));
    assert.ok(!isGuestProcess(leader.pid!, { umid: "other", uid: null }));
    assert.deepEqual(processesWithUmid(umid, uid).sort(), [leader.pid!, helper.pid!].sort());
  });

  it("finds uml_switch processes by the directory of their sockets", () => {
    assert.deepEqual(switchProcesses(`${dir}/net`), [sw.pid]);
    assert.deepEqual(switchProcesses(`${dir}/ne`), []);
  });

  it("a gone process is no guest and has no uid or group", () => {
    assert.equal(processUid(2 ** 22 + 7), null);
    assert.equal(processGroup(2 ** 22 + 7), null);
    assert.ok(!isGuestProcess(2 ** 22 + 7, { umid, uid: null }));
  });
});
