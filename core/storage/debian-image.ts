import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { join } from "node:path";
import { READY_CONSOLE_MARKER, READY_NOTIFY_TEXT } from "../uml/notify.js";

export const DEBIAN_SUITE = "bookworm";
const PACKAGES = ["systemd-sysv", "login", "passwd", "iproute2", "procps"];

/** The mirror the host itself uses (only Debian's packages are reachable), else deb.debian.org. */
export function hostDebianMirror(): string {
  for (const f of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    try {
      const text = readFileSync(f, "utf8");
      const m = /^URIs:\s*(\S+)/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+\s+main/m.exec(text);
      if (m && /^https?:\/\//.test(m[1]!)) return m[1]!;
    } catch {
      // next
    }
  }
  return "http://deb.debian.org/debian";
}

/** Runs debootstrap, reporting each package it retrieves, unpacks or configures as a step. */
export function debootstrap(root: string, onStep: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn("debootstrap", ["--variant=minbase", `--include=${PACKAGES.join(",")}`, DEBIAN_SUITE, root, hostDebianMirror()], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", LANG: "C" },
    });
    let tail = "";
    const onData = (d: Buffer) => {
      const text = d.toString();
      tail = (tail + text).slice(-2000);
      for (const line of text.split("\n")) if (/^I: (Retrieving|Unpacking|Configuring|Installing)/.test(line)) onStep(line.slice(3).trim());
    };
    p.stdout.on("data", onData);
    p.stderr.on("data", onData);
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`debootstrap exited with ${code}: ${tail.split("\n").slice(-4).join(" ")}`))));
  });
}

const READY_SCRIPT = `#!/bin/sh
# umld: hostname from the kernel command line, then the readiness signal
name=$(sed -n 's/.*umld\\.hostname=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
[ -n "$name" ] && echo "$name" > /proc/sys/kernel/hostname
echo "${READY_CONSOLE_MARKER}: $(cat /proc/sys/kernel/hostname)" > /dev/console
[ -w /proc/mconsole ] && printf '${READY_NOTIFY_TEXT}' > /proc/mconsole
exit 0
`;

const READY_UNIT = `[Unit]
Description=umld: set the hostname and tell the host the guest is ready
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/umld-ready
[Install]
WantedBy=multi-user.target
`;

/**
 * Makes a debootstrapped Debian tree a UML guest: root on /dev/ubda, a login on
 * the console (root, no password: the console is reachable only through
 * umld's authenticated API), ctrl-alt-del powers off (umld's shutdown), and
 * the readiness signal umld waits for.
 */
export function configureDebianRoot(root: string): void {
  const w = (rel: string, text: string, mode = 0o644) => {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), text, { mode });
  };
  const link = (target: string, rel: string) => {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    rmSync(join(root, rel), { force: true });
    symlinkSync(target, join(root, rel));
  };
  w("etc/fstab", "/dev/ubda / ext4 defaults,noatime 0 1\n");
  w("etc/hostname", "umld-guest\n");
  w("usr/local/sbin/umld-ready", READY_SCRIPT, 0o755);
  w("etc/systemd/system/umld-ready.service", READY_UNIT);
  link("/etc/systemd/system/umld-ready.service", "etc/systemd/system/multi-user.target.wants/umld-ready.service");
  // the console (con0 = /dev/tty0 = /dev/console) gets the login; tty1.. do not exist
  link("/lib/systemd/system/console-getty.service", "etc/systemd/system/getty.target.wants/console-getty.service");
  link("/dev/null", "etc/systemd/system/getty@tty1.service");
  link("/dev/null", "etc/systemd/system/systemd-timesyncd.service");
  link("/lib/systemd/system/poweroff.target", "etc/systemd/system/ctrl-alt-del.target");
  // root without a password, on the console only
  const shadow = join(root, "etc/shadow");
  if (existsSync(shadow)) writeFileSync(shadow, readFileSync(shadow, "utf8").replace(/^root:[^:]*:/m, "root::"));
  rmSync(join(root, "var/cache/apt/archives"), { recursive: true, force: true });
  mkdirSync(join(root, "var/cache/apt/archives/partial"), { recursive: true });
}
