import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildLaunch, defaultBootOptions, hostLpj, setarchMachine } from "../../core/uml/argv.js";
import { BootOption, CreateInstanceRequest, Name } from "../../protocol/index.js";

const spec = {
  kernelPath: "/usr/bin/linux.uml", umid: "0123456789abcdef", umlDir: "/var/lib/umld/run", memoryMiB: 64,
  rootCow: "/var/lib/umld/instances/i/disk0.cow", rootBacking: "/var/lib/umld/images/busybox.ext4",
  notifySocket: "/var/lib/umld/instances/i/notify.sock", hostname: "web-1", hostfsDir: "/var/lib/umld/instances/i/hostfs",
  bootOptions: defaultBootOptions(21434368),
};

describe("UML command line", () => {
  it("runs under setarch -R with the fast-boot defaults and every managed option", () => {
    const l = buildLaunch(spec);
    assert.equal(l.command, "setarch");
    assert.deepEqual(l.args.slice(0, 3), [setarchMachine(), "-R", "/usr/bin/linux.uml"]);
    for (const a of [
      "umid=0123456789abcdef", "uml_dir=/var/lib/umld/run/", "mem=64M",
      "ubd0=/var/lib/umld/instances/i/disk0.cow,/var/lib/umld/images/busybox.ext4", "root=/dev/ubda", "rw",
      "con=null", "ssl=null", "con0=fd:0,fd:1", "mconsole=notify:/var/lib/umld/instances/i/notify.sock",
      "hostfs=/var/lib/umld/instances/i/hostfs", "umld.hostname=web-1",
      "pty.legacy_count=0", "initcall_blacklist=raid6_select_algo", "lpj=21434368",
    ]) assert.ok(l.args.includes(a), a);
  });

  it("refuses paths that would split a UML option", () => {
    assert.throws(() => buildLaunch({ ...spec, rootCow: "/a,b" }), RangeError);
    assert.throws(() => buildLaunch({ ...spec, notifySocket: "/a b" }), RangeError);
  });

  it("derives lpj from BogoMIPS for HZ=100", () => {
    assert.equal(hostLpj("bogomips\t: 4286.87\n"), 21434350);
    assert.equal(hostLpj("nothing"), 21434368);
  });
});

describe("input allow-lists for what reaches paths and the kernel command line", () => {
  it("names are RFC 1123 labels", () => {
    for (const ok of ["a", "web-1", "x".repeat(63), "0abc"]) assert.ok(Name.safeParse(ok).success, ok);
    for (const bad of ["", "-a", "a-", "A", "a_b", "a.b", "a/b", "..", "a b", "a,b", "x".repeat(64)]) assert.ok(!Name.safeParse(bad).success, bad);
  });

  it("boot options are one token and cannot override what umld manages", () => {
    for (const ok of ["quiet", "lpj=1000", "loglevel=3", "pty.legacy_count=0", "printk.time=1"]) assert.ok(BootOption.safeParse(ok).success, ok);
    for (const bad of ["a b", "x=\"y\"", "ubd0=/etc/shadow", "init=/bin/sh", "mem=4G", "con0=fd:0", "umid=x", "hostfs=/", "mconsole=notify:/x", "eth0=tuntap", "x=a,b", ""]) {
      assert.ok(!BootOption.safeParse(bad).success, bad);
    }
  });

  it("create requests default memory to 64 MiB and reject unknown fields", () => {
    assert.equal(CreateInstanceRequest.parse({ name: "a" }).memoryMiB, 64);
    assert.ok(!CreateInstanceRequest.safeParse({ name: "a", path: "/etc" }).success);
  });
});
