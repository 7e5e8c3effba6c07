/*
 * umld-jail: puts one guest's host process in its jail, then execs it. One exec, no chain
 * of setpriv/prlimit/setarch (each exec costs boot time), statically linked (no loader work).
 *
 *   umld-jail [options] -- PROGRAM [ARGS...]
 *
 *   --root DIR                 empty directory the jail's tmpfs root is mounted on (this namespace only)
 *   --ro PATH | --rw PATH      bind PATH at the same path inside, read-only (exec allowed) or read-write (noexec)
 *   --at PATH                  ... at PATH inside instead (applies to the bind before it; e.g. a library
 *                              whose host path goes through the /lib -> usr/lib symlink)
 *   --dev PATH                 bind a character device (e.g. /dev/net/tun), read-write
 *   --tmpfs PATH:BYTES:MODE    a private tmpfs owned by --uid/--gid (the guest's RAM file, UML's uml_dir)
 *   --dir PATH:MODE            an empty root-owned directory inside (e.g. the hostfs= prefix)
 *   --uid N --gid N            the unprivileged identity to run as (never 0)
 *   --groups G,G,...           supplementary groups (default: none)
 *   --cgroup DIR               join this cgroup (its cgroup.procs) before anything else; repeatable
 *   --rlimit NAME:SOFT:HARD    core, nofile, nproc, memlock, fsize, stack, as (unlimited: -1)
 *   --no-aslr                  personality(ADDR_NO_RANDOMIZE): UML's memory is then exactly what was asked
 *   --umask OCTAL  --chdir PATH
 *   --ambient-caps LIST        keep these capabilities, as ambient ones through the exec (a network service: LIST of
 *                              net_bind_service, net_raw, net_admin, comma-separated); every other one is dropped
 *
 * or, made ahead of time so a start does not wait for it (moving a process into a cgroup waits for an
 * RCU grace period, ~10 ms; spawning costs too):
 *
 *   umld-jail --standby --cgroup DIR...   joins the cgroups now (then says "joined" on stdout), then reads the rest of its arguments
 *                                         from stdin (NUL-separated, to EOF; EOF with none: exit 0),
 *                                         where --stdin/--stdout/--stderr PATH give its console ends
 *                                         (opened without following a symlink), --env KEY=VALUE its
 *                                         whole environment, and --cgroup is not taken
 *
 * or, to change the mounts of a running jail (hot-plugged disks, a TAP or slirp added, a disk removed):
 *
 *   umld-jail --enter PID [--ro PATH [--at PATH]] [--rw PATH] [--dev PATH] [--umount PATH]
 *
 * Every bind source is opened with openat2(RESOLVE_NO_SYMLINKS) before anything is mounted, and the
 * mount is made from that descriptor, so no symlink anywhere in a source path is followed (root
 * never follows a path a guest could have changed). The process then gets its own mount and IPC
 * namespaces, a read-only tmpfs root holding only what was listed, no capabilities (empty bounding,
 * inheritable and ambient sets, but those --ambient-caps names), no_new_privs, and every descriptor above 2 closed.
 * Failures print "umld-jail: <step>: <error>" on stderr and exit 125.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_pivot_root
#define SYS_pivot_root 155
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04

struct open_how_ {
  uint64_t flags, mode, resolve;
};

#define MAX_ITEMS 64
enum kind { BIND_RO, BIND_RW, BIND_DEV, TMPFS, DIR_ };
struct item {
  enum kind kind;
  char path[PATH_MAX];
  char at[PATH_MAX];    /* where it appears inside (default: path) */
  int fd;               /* bind sources: O_PATH descriptor */
  int is_dir;           /* bind sources */
  unsigned long bytes;  /* tmpfs */
  unsigned mode;        /* tmpfs, dir */
};

static struct item items[MAX_ITEMS];
static int nitems;
static const char *cgroups[8];
static int ncgroups;
static struct {
  int res;
  struct rlimit lim;
} rlimits[8];
static int nrlimits;
static gid_t groups[32];
static int ngroups;
static const char *umounts[16];
static int numounts;
static const char *stdio_paths[3];
static void die(const char *step, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(2, "umld-jail: %s: %s\n", step, msg);
  _exit(125);
}

static void die_errno(const char *step, const char *what) { die(step, "%s: %s", what, strerror(errno)); }

static uint64_t keep_caps; /* --ambient-caps */

/* The only capabilities a jailed process may keep: what a network's dnsmasq needs (DNS on port 53, router advertisements). */
static void add_caps(const char *list) {
  static const struct { const char *name; int cap; } names[] = {
    {"net_bind_service", CAP_NET_BIND_SERVICE}, {"net_raw", CAP_NET_RAW}, {"net_admin", CAP_NET_ADMIN},
  };
  for (const char *c = list; *c;) {
    const char *comma = strchr(c, ',');
    size_t len = comma ? (size_t)(comma - c) : strlen(c);
    int found = -1;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
      if (strlen(names[k].name) == len && strncmp(c, names[k].name, len) == 0) found = names[k].cap;
    if (found < 0) die("arguments", "--ambient-caps takes net_bind_service, net_raw, net_admin: '%s'", list);
    keep_caps |= 1ULL << found;
    if (!comma) break;
    c = comma + 1;
  }
}

static unsigned long parse_num(const char *s, int base, const char *what) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, base);
  if (errno || end == s || (*end != '\0' && *end != ':' && *end != ',')) die("arguments", "bad %s '%s'", what, s);
  return v;
}

/* Absolute, no "." or ".." component, no "//": the same path inside and out. */
static void check_path(const char *p) {
  if (p[0] != '/' || strlen(p) >= PATH_MAX - 64) die("arguments", "not an absolute path: '%s'", p);
  for (const char *c = p; *c; c++) {
    if (c[0] == '/' && (c[1] == '/' || (c[1] == '.' && (c[2] == '/' || c[2] == '\0' || (c[2] == '.' && (c[3] == '/' || c[3] == '\0'))))))
      die("arguments", "path with an empty, '.' or '..' component: '%s'", p);
  }
}

static struct item *add_item(enum kind kind, const char *spec) {
  if (nitems == MAX_ITEMS) die("arguments", "too many mounts");
  struct item *it = &items[nitems++];
  it->kind = kind;
  it->fd = -1;
  const char *colon = (kind == TMPFS || kind == DIR_) ? strchr(spec, ':') : NULL;
  size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
  if (len >= sizeof it->path) die("arguments", "path too long");
  memcpy(it->path, spec, len);
  it->path[len] = '\0';
  check_path(it->path);
  memcpy(it->at, it->path, len + 1);
  if (kind == TMPFS) {
    if (!colon) die("arguments", "--tmpfs PATH:BYTES:MODE");
    it->bytes = parse_num(colon + 1, 10, "tmpfs size");
    const char *m = strchr(colon + 1, ':');
    if (!m) die("arguments", "--tmpfs PATH:BYTES:MODE");
    it->mode = (unsigned)parse_num(m + 1, 8, "tmpfs mode");
  } else if (kind == DIR_) {
    if (!colon) die("arguments", "--dir PATH:MODE");
    it->mode = (unsigned)parse_num(colon + 1, 8, "dir mode");
  }
  return it;
}

static void add_rlimit(const char *spec) {
  static const struct { const char *name; int res; } names[] = {
    {"core", RLIMIT_CORE}, {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},
    {"memlock", RLIMIT_MEMLOCK}, {"fsize", RLIMIT_FSIZE}, {"stack", RLIMIT_STACK}, {"as", RLIMIT_AS},
  };
  if (nrlimits == 8) die("arguments", "too many rlimits");
  const char *c1 = strchr(spec, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c2) die("arguments", "--rlimit NAME:SOFT:HARD");
  int res = -1;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i].name) == (size_t)(c1 - spec) && strncmp(spec, names[i].name, (size_t)(c1 - spec)) == 0) res = names[i].res;
  if (res < 0) die("arguments", "unknown rlimit '%s'", spec);
  rlimits[nrlimits].res = res;
  rlimits[nrlimits].lim.rlim_cur = strncmp(c1 + 1, "-1", 2) == 0 ? RLIM_INFINITY : parse_num(c1 + 1, 10, "rlimit");
  rlimits[nrlimits].lim.rlim_max = strcmp(c2 + 1, "-1") == 0 ? RLIM_INFINITY : parse_num(c2 + 1, 10, "rlimit");
  nrlimits++;
}

/* mkdir -p of path's parents (and path itself when last) under the new root; tmpfs is ours alone.
   0711: a guest reaches what it was given by path and lists nothing. */
static void make_parents(const char *root, const char *path, int include_last, unsigned mode) {
  char buf[PATH_MAX * 2];
  snprintf(buf, sizeof buf, "%s%s", root, path);
  size_t rootlen = strlen(root);
  for (char *c = buf + rootlen + 1; *c; c++) {
    if (*c != '/') continue;
    *c = '\0';
    if (mkdir(buf, 0711) < 0 && errno != EEXIST) die_errno("mkdir", buf);
    *c = '/';
  }
  if (include_last && mkdir(buf, mode) < 0 && errno != EEXIST) die_errno("mkdir", buf);
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die_errno("cgroup", path);
  ssize_t n = write(fd, text, strlen(text));
  if (n != (ssize_t)strlen(text)) die_errno("cgroup", path);
  close(fd);
}

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#define OPEN_TREE_CLONE_ 1
#define MOVE_MOUNT_F_EMPTY_PATH_ 0x00000004

static int open_source(struct item *it) {
  struct open_how_ how = {.flags = O_PATH | O_CLOEXEC, .mode = 0, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, AT_FDCWD, it->path, &how, sizeof how);
  if (fd < 0) die_errno("open", it->path);
  struct stat st;
  if (fstat(fd, &st) < 0) die_errno("stat", it->path);
  it->is_dir = S_ISDIR(st.st_mode);
  if (it->kind == BIND_DEV && !S_ISCHR(st.st_mode)) die("open", "%s is not a character device", it->path);
  if (it->kind != BIND_DEV && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) die("open", "%s is neither a file nor a directory", it->path);
  return fd;
}

static unsigned long bind_flags(enum kind k) {
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID;
  if (k == BIND_RO) flags |= MS_RDONLY | MS_NODEV;
  if (k == BIND_RW) flags |= MS_NODEV | MS_NOEXEC;
  if (k == BIND_DEV) flags |= MS_NOEXEC;
  return flags;
}

static void make_mountpoint(const char *root, struct item *it) {
  char dst[PATH_MAX * 2];
  snprintf(dst, sizeof dst, "%s%s", root, it->at);
  if (it->is_dir) {
    make_parents(root, it->at, 1, 0711);
    return;
  }
  make_parents(root, it->at, 0, 0);
  int f = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (f < 0 && errno != EEXIST) die_errno("mountpoint", dst);
  if (f >= 0) close(f);
}

/* Changes the mounts of a running jail: sources are cloned as detached mounts on the host, then
   attached inside the jail's namespace (the way systemd injects mounts into a running unit). */
static int enter(long pid) {
  char p[64];
  for (int k = 0; k < nitems; k++) {
    struct item *it = &items[k];
    if (it->kind == TMPFS || it->kind == DIR_) die("arguments", "--enter takes --ro, --rw, --dev and --umount only");
    int fd = open_source(it);
    it->fd = (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE_ | O_CLOEXEC | AT_EMPTY_PATH);
    if (it->fd < 0) die_errno("open_tree", it->path);
    close(fd);
  }
  snprintf(p, sizeof p, "/proc/%ld/root", pid);
  int rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die_errno("open", p);
  snprintf(p, sizeof p, "/proc/%ld/ns/mnt", pid);
  int nsfd = open(p, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die_errno("open", p);
  struct stat theirs, ours;
  if (fstat(nsfd, &theirs) < 0 || stat("/proc/self/ns/mnt", &ours) < 0) die_errno("stat", "mount namespaces");
  if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) die("enter", "process %ld is not in a jail of its own", pid);
  if (setns(nsfd, CLONE_NEWNS) < 0) die_errno("setns", p);
  if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0) die_errno("chroot", "the jail's root");
  if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL) < 0) die_errno("remount", "/ read-write");
  for (int u = 0; u < numounts; u++) {
    if (umount2(umounts[u], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) die_errno("umount", umounts[u]);
    if (unlink(umounts[u]) < 0 && errno == EISDIR) rmdir(umounts[u]);
  }
  for (int k = 0; k < nitems; k++) {
    struct item *it = &items[k];
    make_mountpoint("", it);
    if (syscall(SYS_move_mount, it->fd, "", AT_FDCWD, it->at, MOVE_MOUNT_F_EMPTY_PATH_) < 0) die_errno("move_mount", it->at);
    if (mount(NULL, it->at, NULL, bind_flags(it->kind), NULL) < 0) die_errno("remount", it->at);
  }
  if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) die_errno("remount", "/ read-only");
  return 0;
}

static void join_cgroups(void) {
  char pidtext[32];
  snprintf(pidtext, sizeof pidtext, "%d\n", getpid());
  for (int c = 0; c < ncgroups; c++) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/cgroup.procs", cgroups[c]);
    write_file(p, pidtext);
  }
}

/* Standby: the cgroups now; the rest of the arguments when a start sends them. */
static char **standby(int argc, char **argv, int *new_argc) {
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--cgroup") != 0 || ncgroups == 8) die("arguments", "--standby takes --cgroup DIR only");
    check_path(argv[i + 1]);
    cgroups[ncgroups++] = argv[i + 1];
  }
  join_cgroups();
  if (write(1, "joined\n", 7) != 7) die_errno("standby", "tell the spawner"); /* stdout: a pipe it waits on */
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) die("standby", "out of memory");
  for (;;) {
    if (len == cap && !(buf = realloc(buf, cap *= 2))) die("standby", "out of memory");
    ssize_t n = read(0, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die_errno("standby", "read");
    if (n == 0) break;
    len += (size_t)n;
    if (len > (8u << 20)) die("standby", "arguments too long");
  }
  if (len == 0) _exit(0); /* never used: the daemon went away */
  if (buf[len - 1] != '\0') die("standby", "arguments not NUL-terminated");
  int n = 1;
  for (size_t k = 0; k < len; k++) n += buf[k] == '\0';
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (!v) die("standby", "out of memory");
  v[0] = argv[0];
  int j = 1;
  for (size_t k = 0; k < len; k += strlen(buf + k) + 1) v[j++] = buf + k;
  *new_argc = j;
  return v;
}

/* The console FIFOs and the stderr log, opened as root by path, never through a symlink. */
static void open_stdio(void) {
  static const int flags[3] = {O_RDWR, O_RDWR, O_WRONLY | O_CREAT | O_APPEND};
  for (int k = 0; k < 3; k++) {
    if (!stdio_paths[k]) continue;
    int fd = open(stdio_paths[k], flags[k] | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) die_errno("open", stdio_paths[k]);
    if (dup2(fd, k) < 0) die_errno("dup2", stdio_paths[k]);
    close(fd);
  }
}

int main(int argc, char **argv) {
  const char *root = NULL, *chdir_to = NULL;
  long uid = -1, gid = -1, enter_pid = -1;
  int no_aslr = 0, in_standby = 0;
  mode_t mask = 077;
  int i;
  if (argc > 1 && strcmp(argv[1], "--standby") == 0) {
    argv = standby(argc, argv, &argc);
    in_standby = 1;
    clearenv(); /* the start gives the whole environment */
  }
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--") == 0) { i++; break; }
    if (strcmp(a, "--no-aslr") == 0) { no_aslr = 1; continue; }
    if (!v) die("arguments", "%s needs a value", a);
    i++;
    if (strcmp(a, "--root") == 0) { check_path(v); root = v; }
    else if (strcmp(a, "--enter") == 0) enter_pid = (long)parse_num(v, 10, "pid");
    else if (strcmp(a, "--umount") == 0) {
      if (numounts == 16) die("arguments", "too many --umount");
      check_path(v);
      umounts[numounts++] = v;
    }
    else if (strcmp(a, "--ro") == 0) add_item(BIND_RO, v);
    else if (strcmp(a, "--rw") == 0) add_item(BIND_RW, v);
    else if (strcmp(a, "--dev") == 0) add_item(BIND_DEV, v);
    else if (strcmp(a, "--at") == 0) {
      struct item *last = nitems ? &items[nitems - 1] : NULL;
      if (!last || last->kind == TMPFS || last->kind == DIR_) die("arguments", "--at follows --ro, --rw or --dev");
      check_path(v);
      snprintf(last->at, sizeof last->at, "%s", v);
    } else if (strcmp(a, "--tmpfs") == 0) add_item(TMPFS, v);
    else if (strcmp(a, "--dir") == 0) add_item(DIR_, v);
    else if (strcmp(a, "--uid") == 0) uid = (long)parse_num(v, 10, "uid");
    else if (strcmp(a, "--gid") == 0) gid = (long)parse_num(v, 10, "gid");
    else if (strcmp(a, "--groups") == 0) {
      for (const char *g = v; *g;) {
        if (ngroups == 32) die("arguments", "too many groups");
        groups[ngroups++] = (gid_t)parse_num(g, 10, "group");
        const char *comma = strchr(g, ',');
        if (!comma) break;
        g = comma + 1;
      }
    } else if (strcmp(a, "--cgroup") == 0) {
      if (ncgroups == 8 || in_standby) die("arguments", in_standby ? "a standby joined its cgroups already" : "too many cgroups");
      check_path(v);
      cgroups[ncgroups++] = v;
    } else if (strcmp(a, "--env") == 0) {
      if (!in_standby || !strchr(v, '=') || v[0] == '=') die("arguments", "--env KEY=VALUE, in standby only");
      if (putenv((char *)v) != 0) die_errno("putenv", v);
    } else if (strcmp(a, "--stdin") == 0 || strcmp(a, "--stdout") == 0 || strcmp(a, "--stderr") == 0) {
      check_path(v);
      stdio_paths[a[5] == 'i' ? 0 : a[5] == 'o' ? 1 : 2] = v;
    } else if (strcmp(a, "--rlimit") == 0) add_rlimit(v);
    else if (strcmp(a, "--umask") == 0) mask = (mode_t)parse_num(v, 8, "umask");
    else if (strcmp(a, "--chdir") == 0) { check_path(v); chdir_to = v; }
    else if (strcmp(a, "--ambient-caps") == 0) add_caps(v);
    else die("arguments", "unknown option '%s'", a);
  }
  umask(0); /* the jail's directories get exactly the modes below, whatever the spawner's umask */
  if (enter_pid > 1) {
    if (geteuid() != 0) die("start", "must be started as root");
    return enter(enter_pid);
  }
  if (i >= argc) die("arguments", "no program after --");
  if (!root) die("arguments", "--root is required");
  if (uid <= 0 || gid <= 0 || uid > 0xfffffffeL || gid > 0xfffffffeL) die("arguments", "--uid and --gid must be set and not root");
  for (int g = 0; g < ngroups; g++) if (groups[g] == 0) die("arguments", "group 0 is not allowed");
  if (geteuid() != 0) die("start", "must be started as root");

  /* 1. cgroups first: every process of the guest is counted and limited from its first instruction
     (a standby joined them already), then its console ends. */
  if (!in_standby) join_cgroups();
  open_stdio();

  /* 2. a mount namespace of its own, nothing propagated back to the host. */
  if (unshare(CLONE_NEWNS | CLONE_NEWIPC) < 0) die_errno("unshare", "mount and IPC namespaces");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die_errno("mount", "make / private");
  /* 3. sources (in the new namespace: a bind takes mounts of its own namespace only), resolved with no symlink followed anywhere in the path. */
  for (int k = 0; k < nitems; k++)
    if (items[k].kind != TMPFS && items[k].kind != DIR_) items[k].fd = open_source(&items[k]);

  if (mount("umld-jail", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0711") < 0) die_errno("mount", root);

  for (int k = 0; k < nitems; k++) {
    struct item *it = &items[k];
    char dst[PATH_MAX * 2];
    snprintf(dst, sizeof dst, "%s%s", root, it->at);
    if (it->kind == DIR_) {
      make_parents(root, it->path, 1, it->mode);
      if (chmod(dst, it->mode) < 0) die_errno("chmod", dst);
      continue;
    }
    if (it->kind == TMPFS) {
      make_parents(root, it->path, 1, 0700);
      char opts[128];
      snprintf(opts, sizeof opts, "size=%lu,mode=%o,uid=%ld,gid=%ld", it->bytes, it->mode, uid, gid);
      if (mount("umld-guest", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) die_errno("mount tmpfs", it->path);
      continue;
    }
    make_mountpoint(root, it);
    char src[64];
    snprintf(src, sizeof src, "/proc/self/fd/%d", it->fd);
    if (mount(src, dst, NULL, MS_BIND, NULL) < 0) die_errno("bind", it->path);
    if (mount(NULL, dst, NULL, bind_flags(it->kind), NULL) < 0) die_errno("remount", it->path);
    close(it->fd);
  }

  /* 4. the tmpfs becomes / (the old root is detached, not reachable), then read-only. */
  if (chdir(root) < 0) die_errno("chdir", root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) die_errno("pivot_root", root);
  if (umount2(".", MNT_DETACH) < 0) die_errno("umount", "old root");
  if (chdir("/") < 0) die_errno("chdir", "/");
  if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) die_errno("remount", "/ read-only");

  /* 5. process settings that survive the exec. */
  for (int r = 0; r < nrlimits; r++)
    if (setrlimit(rlimits[r].res, &rlimits[r].lim) < 0) die_errno("setrlimit", "limit");
  if (no_aslr) {
    int persona = personality(0xffffffff);
    if (persona < 0 || personality((unsigned long)persona | ADDR_NO_RANDOMIZE) < 0) die_errno("personality", "ADDR_NO_RANDOMIZE");
  }
  umask(mask);
  if (chdir_to && chdir(chdir_to) < 0) die_errno("chdir", chdir_to);

  /* 6. the identity: groups, gid, an empty bounding set, then uid (clears permitted and effective). */
  if (setgroups((size_t)ngroups, groups) < 0) die_errno("setgroups", "groups");
  if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0) die_errno("setresgid", "gid");
  for (int cap = 0; cap <= 63; cap++)
    if (!(keep_caps & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die_errno("prctl", "drop bounding set");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) die_errno("prctl", "clear ambient");
  if (prctl(PR_SET_KEEPCAPS, keep_caps ? 1 : 0, 0, 0, 0) < 0) die_errno("prctl", "keepcaps");
  if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) die_errno("setresuid", "uid");
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  /* the kept ones (permitted survived setresuid with keepcaps) become effective, inheritable and ambient: they outlive the exec */
  data[0].permitted = data[0].effective = data[0].inheritable = (uint32_t)keep_caps;
  data[1].permitted = data[1].effective = data[1].inheritable = (uint32_t)(keep_caps >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) die_errno("capset", keep_caps ? "keep" : "clear");
  for (int cap = 0; cap <= 63; cap++)
    if ((keep_caps & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) die_errno("prctl", "raise ambient");
  if (keep_caps && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) die_errno("prctl", "keepcaps");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_errno("prctl", "no_new_privs");
  if (getuid() == 0 || geteuid() == 0) die("setresuid", "still root");

  /* 7. nothing of the spawner leaks in but stdin, stdout and stderr: no descriptor, no ignored signal
     (the kernel struct: glibc refuses its own internal signals, which posix_spawn leaves ignored). */
  struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } dfl = {SIG_DFL, 0, NULL, 0};
  for (int sig = 1; sig <= 64; sig++) syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (syscall(SYS_close_range, 3, ~0U, 0) < 0) {
    for (int fd = 3; fd < 1024; fd++) close(fd);
  }
  execv(argv[i], argv + i);
  die_errno("exec", argv[i]);
  return 125;
}
