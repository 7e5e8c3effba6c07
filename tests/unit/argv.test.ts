import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultBootOptions, hostLpj, rawLaunch, setarchMachine, umlArgs } from "../../core/uml/argv.js";
import { BootOption, CreateInstanceRequest, Name } from "../../protocol/index.js";

const spec = {
  kernelPath: "/usr/bin/linux.uml",
  umid: "0123456789abcdef",
  umlDir: "/var/lib/umld/run",
  memoryMiB: 64,
  rootCow: "/var/lib/umld/instances/i/disk0.cow",
  rootBacking: "/var/lib/umld/images/busybox.ext4",
  notifySocket: "/var/lib/umld/instances/i/notify.sock",
  hostname: "web-1",
  hostfsDir: "/var/lib/umld/instances/i/hostfs",
  bootOptions: defaultBootOptions(21434368),
};

describe("UML command line", () => {
  it("carries the fast-boot defaults and every managed option; the raw baseline runs it under setarch -R", () => {
    const raw = rawLaunch(spec);
    assert.equal(raw.command, "setarch");
    assert.deepEqual(raw.args.slice(0, 3), [setarchMachine(), "-R", "/usr/bin/linux.uml"]);
    const l = { args: umlArgs(spec) };
    for (const a of [
      "umid=0123456789abcdef",
      "uml_dir=/var/lib/umld/run/",
      "mem=64M",
      "ubd0=/var/lib/umld/instances/i/disk0.cow,/var/lib/umld/images/busybox.ext4",
      "root=/dev/ubda",
      "rw",
      "noreboot",
      "con=null",
      "ssl=null",
      "con0=fd:0,fd:1",
      "mconsole=notify:/var/lib/umld/instances/i/notify.sock",
      "hostfs=/var/lib/umld/instances/i/hostfs",
      "umld.hostname=web-1",
      "pty.legacy_count=0",
      "initcall_blacklist=raid6_select_algo",
      "lpj=21434368",
    ])
      assert.ok(l.args.includes(a), a);
  });

  it("refuses paths that would split a UML option", () => {
    assert.throws(() => umlArgs({ ...spec, rootCow: "/a,b" }), RangeError);
    assert.throws(() => umlArgs({ ...spec, notifySocket: "/a b" }), RangeError);
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

  it("boot options come from an allow-list: no device, channel, path or host resource in any spelling UML accepts", () => {
    for (const ok of ["quiet", "lpj=1000", "loglevel=3", "pty.legacy_count=0", "printk.time=1", "initcall_blacklist=raid6_select_algo", "panic=-1", "systemd.unit=rescue.target"]) {
      assert.ok(BootOption.safeParse(ok).success, ok);
    }
    const bad = [
      "a b",
      'x="y"',
      "",
      "quiet=1",
      "loglevel=9",
      "loglevel=3x",
      "lpj=-1",
      "systemd.unit=../x",
      "initcall_blacklist=a b",
      // devices and channels in UML's spellings: unit letters, numbers, leading zeros, hex, flags
      "ubd0=/etc/shadow",
      "ubdb=/x",
      "ubdbr=/x",
      "ubdc=/var/lib/umld/umld.db",
      "ubdp=/x",
      "ubd1=/x",
      "ubd1r=/x",
      "ubd1d=/x",
      "ubd01=/x",
      "ubd0x2=/x",
      "ubd15d=/x",
      "ubd16=/x",
      "udb=/x",
      "con=fd:0",
      "con0=fd:0",
      "con1=pts",
      "ssl=port:1",
      "ssl0=port:8080",
      "ssl2=tty:/dev/pts/3",
      "console=ttyS0",
      "eth0=tuntap",
      "eth16=mcast",
      "eth00=daemon",
      "vec0:transport=raw",
      "vec0=x",
      "mconsole=notify:/x",
      "hostfs=/",
      "uml_dir=/tmp",
      "umid=x",
      "mem=4G",
      "memmap=x",
      "iomem=a,/etc/passwd",
      "initrd=/etc/passwd",
      "root=/dev/ubdb",
      "rootfstype=hostfs",
      "rootflags=/",
      "init=/bin/sh",
      "rdinit=/x",
      "xterm=x",
      "virtio_uml.device=/x:1",
      "time-travel=ext:/x",
      "stderr=1",
      "noreboot",
      "nosysemu",
      "debug",
      "umld.hostname=x",
      "dsp=/dev/dsp",
      "mixer=/dev/mixer",
      "ubda",
      "eth0",
      "UBD1=/x",
      "Quiet",
    ];
    for (const o of bad) assert.ok(!BootOption.safeParse(o).success, o);
  });

  it("create requests default memory to 64 MiB and reject unknown fields", () => {
    assert.equal(CreateInstanceRequest.parse({ name: "a" }).memoryMiB, 64);
    assert.ok(!CreateInstanceRequest.safeParse({ name: "a", path: "/etc" }).success);
  });
});
