import { execFile } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { READY_CONSOLE_MARKER, READY_NOTIFY_TEXT } from "../uml/notify.js";
import { renameDurable } from "../util/fs.js";
import { sealImage } from "./seal.js";

const run = promisify(execFile);

export const BUSYBOX_BINARY = "/bin/busybox";

/**
 * The init script of the default image: mounts, hostname from the kernel
 * command line (umld.hostname=), then the readiness signal on the console and
 * through /proc/mconsole (which reaches the daemon's notify socket).
 */
export const RC_SCRIPT = `#!/bin/sh
# Every exec in a UML guest is a host process (milliseconds each): one mount -a
# for all file systems, shell builtins for the rest, anything else after ready.
mkdir -p /dev/pts /dev/shm
mount -a
read -r cmdline < /proc/cmdline
name=umld-guest
for w in $cmdline; do
  case "$w" in umld.hostname=*) name="\${w#umld.hostname=}" ;; esac
done
echo "$name" > /proc/sys/kernel/hostname
for n in /sys/class/net/eth* /sys/class/net/vec*; do [ -e "$n" ] && /etc/umld-net "\${n##*/}"; done
echo "${READY_CONSOLE_MARKER}: $name"
[ -w /proc/mconsole ] && printf '${READY_NOTIFY_TEXT}' > /proc/mconsole
ip link set lo up 2>/dev/null
# NICs hot-added later: mdev listens on netlink and runs /etc/umld-net for new eth*/vec* only.
# Never a kernel hotplug helper (/proc/sys/kernel/hotplug): the kernel starts one per uevent,
# also while a UML reboot tears devices down, and those share UML's file table and keep
# the root COW's lock into the next boot (seen: F_SETLK failed). mdev is an ordinary
# process, killed with the others before the teardown, and forks only for an added NIC.
mdev -d
exit 0
`;

/** mdev (netlink daemon) handles added NICs and nothing else: devtmpfs owns /dev. */
export const MDEV_CONF = `SUBSYSTEM=net;(eth|vec)[0-9]+ 0:0 600 ! @/etc/umld-net $MDEV
.* 0:0 600 !
`;

/**
 * umld's NICs carry their address in their MAC: fe:<prefix>:<a>:<b>:<c>:<d>
 * (locally administered), so a guest addresses itself with no agent and no
 * kernel command line per NIC, at boot and when a NIC is hot-added. `fa:`
 * adds a default route through the subnet's first address (a NATed host
 * network). A slirp NIC (user network) has no MAC: it is a SLIP link (type
 * 256) and slirp's network is always 10.0.2.15/24. UML's vector driver
 * (switch and host NICs) names its devices vecN: renamed to the slot, ethN.
 * IPv6 is a module in Debian's UML kernel (CONFIG_IPV6=m): loaded from the
 * image at the first NIC, the kernel then addresses the NIC itself from its
 * MAC (SLAAC, EUI-64) and routes by the network's router advertisements.
 */
export const NET_SCRIPT = `#!/bin/sh
i="$1"
if [ ! -d /proc/sys/net/ipv6 ]; then
  read -r v < /proc/sys/kernel/osrelease
  m=/lib/modules/$v
  [ -f $m/ipv6.ko ] && { insmod $m/crc-ccitt.ko 2>/dev/null; insmod $m/ipv6.ko; }
fi
case "$i" in vec*) ip link set "$i" name "eth\${i#vec}" && i="eth\${i#vec}" ;; esac
if [ "$(cat /sys/class/net/$i/type)" = 256 ]; then
  ip addr add 10.0.2.15/24 dev "$i"
  ip link set "$i" up
  ip route add default dev "$i" 2>/dev/null
  exit 0
fi
mac=$(cat /sys/class/net/$i/address)
case "$mac" in fe:*|fa:*) ;; *) exit 0 ;; esac
set -- $(echo "$mac" | tr ':' ' ')
ip addr add $((0x$3)).$((0x$4)).$((0x$5)).$((0x$6))/$((0x$2)) dev "$i"
ip link set "$i" up
if [ "$1" = fa ]; then
  g=$(( ((0x$3 << 24) + (0x$4 << 16) + (0x$5 << 8) + 0x$6) & ((0xffffffff << (32 - 0x$2)) & 0xffffffff) ))
  g=$((g + 1))
  ip route add default via $((g >> 24 & 255)).$((g >> 16 & 255)).$((g >> 8 & 255)).$((g & 255)) dev "$i" 2>/dev/null
fi
`;

/** devtmpfs is mounted on /dev by the kernel (CONFIG_DEVTMPFS_MOUNT). */
export const FSTAB = `proc /proc proc defaults 0 0
sysfs /sys sysfs defaults 0 0
devpts /dev/pts devpts defaults 0 0
tmpfs /dev/shm tmpfs defaults 0 0
tmpfs /tmp tmpfs mode=1777 0 0
tmpfs /run tmpfs defaults 0 0
`;

export const INITTAB = `::sysinit:/etc/init.d/rcS
tty0::respawn:-/bin/sh
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
`;

const PROFILE = `export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='\\h:\\w# '
`;

export interface BuiltImage {
  path: string;
  sizeBytes: number;
}

/**
 * Lays busybox-static out in a directory and turns it into an ext4 image with
 * `mkfs.ext4 -d` (no loop mount, no root needed for the build itself).
 * Written to a temp file and renamed into place; the result is sealed read-only.
 */
/** Lays out the default image's root file system (busybox-static, init, fstab) in `root`. */
export async function layoutBusyboxRoot(root: string): Promise<void> {
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "proc", "sys", "dev", "tmp", "run", "root", "var/log", "mnt"]) {
    mkdirSync(join(root, d), { recursive: true });
  }
  copyFileSync(BUSYBOX_BINARY, join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  const { stdout } = await run(BUSYBOX_BINARY, ["--list-full"]);
  for (const rel of stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)) {
    if (rel === "bin/busybox" || rel.includes("..") || rel.startsWith("/")) continue;
    const target = join(root, rel);
    mkdirSync(dirname(target), { recursive: true });
    const depth = rel.split("/").length - 1;
    try {
      symlinkSync(`${"../".repeat(depth)}bin/busybox`, target);
    } catch {
      // duplicate applet path
    }
  }
  writeFileSync(join(root, "etc/init.d/rcS"), RC_SCRIPT, { mode: 0o755 });
  writeFileSync(join(root, "etc/inittab"), INITTAB);
  writeFileSync(join(root, "etc/fstab"), FSTAB);
  writeFileSync(join(root, "etc/umld-net"), NET_SCRIPT, { mode: 0o755 });
  writeFileSync(join(root, "etc/mdev.conf"), MDEV_CONF);
  writeFileSync(join(root, "etc/profile"), PROFILE);
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\n");
  writeFileSync(join(root, "etc/hostname"), "umld-guest\n");
  copyIpv6Modules(root);
}

/** Debian's UML kernels' modules (user-mode-linux package): IPv6 and what it needs, copied for each kernel version found. */
export const UML_MODULES = "/usr/lib/uml/modules";
const IPV6_MODULES = ["kernel/net/ipv6/ipv6.ko", "kernel/lib/crc-ccitt.ko"];

function copyIpv6Modules(root: string): void {
  if (!existsSync(UML_MODULES)) return;
  for (const version of readdirSync(UML_MODULES)) {
    if (!/^[\w.+-]+$/.test(version) || !existsSync(join(UML_MODULES, version, IPV6_MODULES[0]!))) continue;
    const dir = join(root, "lib/modules", version);
    mkdirSync(dir, { recursive: true });
    for (const m of IPV6_MODULES) if (existsSync(join(UML_MODULES, version, m))) copyFileSync(join(UML_MODULES, version, m), join(dir, basename(m)));
  }
}

export async function buildBusyboxImage(outPath: string, sizeMiB = 64): Promise<BuiltImage> {
  const work = mkdtempSync(join(dirname(outPath), ".build-"));
  try {
    const root = join(work, "root");
    await layoutBusyboxRoot(root);
    const tmp = join(work, "image.ext4");
    await run("mkfs.ext4", ["-q", "-F", "-L", "umld-busybox", "-E", "root_owner=0:0", "-d", root, tmp, `${sizeMiB}M`], { timeout: 120_000, killSignal: "SIGKILL" });
    sealImage(tmp, null, true); // built-in images are the admin's shared catalogue
    renameDurable(tmp, outPath);
    return { path: outPath, sizeBytes: sizeMiB * 1024 * 1024 };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
