/*
 * safe_open: root opening files in places a guest can write, without ever following a
 * symlink the guest planted. O_NOFOLLOW guards only the last component, so:
 *   openAt(dirFd, name, flags, mode = 0o600) -> fd   one component below a trusted dir fd
 *   openPath(path, flags, mode = 0o600) -> fd        an absolute path, no symlink anywhere
 *   closeFd(fd); fstatKind(fd) -> {kind, mode, uid, gid, size, nlink, dev, ino}; O_PATH
 * Both opens refuse a symlink in any position, even with O_PATH (ELOOP, or ENOTDIR for a
 * middle component in the fallback), and always add O_CLOEXEC. They use openat2(2) with
 * RESOLVE_NO_SYMLINKS (Linux 5.6+); where it is missing (ENOSYS) they walk the path one
 * component at a time with O_PATH|O_NOFOLLOW|O_DIRECTORY. openPathWalk forces the walk (tests).
 */
#define _GNU_SOURCE
#include "napi_util.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int close_keep_errno(int fd) {
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}

/* The fallback. `path` is writable scratch; components were checked for ".." by the caller. */
static int walk(int dirfd, char *path, int flags, mode_t mode) {
  int cur = dirfd, own = 0;
  char *p = path;
  if (*p == '/') {
    cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0) return -1;
    own = 1;
    while (*p == '/') p++;
  }
  for (char *slash; (slash = strchr(p, '/'));) {
    char *next = slash + 1;
    *slash = '\0';
    while (*next == '/') next++;
    if (!*next) { /* "dir/": the last component, which must be a directory */
      flags |= O_DIRECTORY;
      break;
    }
    int fd = openat(cur, p, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC); /* a symlink: ENOTDIR */
    if (own) close_keep_errno(cur);
    if (fd < 0) return -1;
    cur = fd, own = 1, p = next;
  }
  int fd;
  do fd = openat(cur, *p ? p : ".", flags | O_NOFOLLOW | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  struct stat st;
  if (fd >= 0 && (flags & O_PATH)) { /* O_PATH|O_NOFOLLOW opens a symlink itself */
    if (fstat(fd, &st) < 0) fd = close_keep_errno(fd);
    else if (S_ISLNK(st.st_mode)) close(fd), errno = ELOOP, fd = -1;
  }
  if (own) close_keep_errno(cur);
  return fd;
}

static int open_nofollow(int dirfd, char *path, int flags, mode_t mode, bool force_walk) {
  if (!force_walk) {
    struct open_how how = {
        .flags = (uint32_t)((flags & ~O_NOFOLLOW) | O_CLOEXEC), /* without O_NOFOLLOW a final symlink is ELOOP too */
        .mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0, /* else EINVAL */
        .resolve = RESOLVE_NO_SYMLINKS,
    };
    long fd;
    do fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0 || errno != ENOSYS) return (int)fd;
  }
  return walk(dirfd, path, flags, mode);
}

static napi_value fd_value(napi_env env, int fd, const char *syscall) {
  if (fd < 0) return throw_errno(env, errno, syscall);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

static napi_value js_open_at(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char name[NAME_MAX + 1];
  int64_t dirfd = -1, flags = 0, mode = 0600;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_code(env, EINVAL, "openat", "openAt(dirFd, name, flags) needs three arguments");
  if (!get_integer(env, argv[0], 0, INT32_MAX, "openat", "dirFd", &dirfd) ||
      !get_string(env, argv[1], name, sizeof name, "openat") ||
      !get_integer(env, argv[2], INT32_MIN, INT32_MAX, "openat", "flags", &flags) ||
      !get_optional_integer(env, argc, argv, 3, 0, 07777, "openat", "mode", &mode))
    return NULL;
  if (!strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/'))
    return throw_code(env, EINVAL, "openat", "name must be one path component, not \".\" or \"..\"");
  return fd_value(env, open_nofollow((int)dirfd, name, (int)flags, (mode_t)mode, false), "openat");
}

static napi_value open_path(napi_env env, napi_callback_info info, bool force_walk) {
  size_t argc = 3;
  napi_value argv[3];
  char path[PATH_MAX];
  int64_t flags = 0, mode = 0600;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_code(env, EINVAL, "openat2", "openPath(path, flags) needs a path and flags");
  if (!get_string(env, argv[0], path, sizeof path, "openat2") ||
      !get_integer(env, argv[1], INT32_MIN, INT32_MAX, "openat2", "flags", &flags) ||
      !get_optional_integer(env, argc, argv, 2, 0, 07777, "openat2", "mode", &mode))
    return NULL;
  if (path[0] != '/') return throw_code(env, EINVAL, "openat2", "path must be absolute");
  for (const char *c = path; (c = strstr(c, "..")); c += 2)
    if ((c == path || c[-1] == '/') && (c[2] == '/' || c[2] == '\0'))
      return throw_code(env, EINVAL, "openat2", "path must not contain \"..\"");
  return fd_value(env, open_nofollow(AT_FDCWD, path, (int)flags, (mode_t)mode, force_walk), "openat2");
}

static napi_value js_open_path(napi_env env, napi_callback_info info) { return open_path(env, info, false); }
static napi_value js_open_path_walk(napi_env env, napi_callback_info info) { return open_path(env, info, true); }

static bool get_fd(napi_env env, napi_callback_info info, const char *fn, int *fd) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t v = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) {
    throw_code(env, EINVAL, fn, "needs an fd");
    return false;
  }
  if (!get_integer(env, argv[0], 0, INT32_MAX, fn, "fd", &v)) return false;
  *fd = (int)v;
  return true;
}

static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  int fd;
  if (!get_fd(env, info, "close", &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close"); /* Linux: closed even on EINTR */
  return NULL;
}

static const char *kind_of(mode_t m) {
  return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISSOCK(m) ? "socket" : S_ISFIFO(m) ? "fifo"
       : S_ISLNK(m) ? "symlink" : S_ISCHR(m) ? "char" : S_ISBLK(m) ? "block" : "other";
}

/* fstat works on O_PATH fds (Linux 3.6+): check what was opened before using it. */
static napi_value js_fstat_kind(napi_env env, napi_callback_info info) {
  int fd;
  struct stat st;
  if (!get_fd(env, info, "fstat", &fd)) return NULL;
  if (fstat(fd, &st) < 0) return throw_errno(env, errno, "fstat");
  napi_value out, kind;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, kind_of(st.st_mode), NAPI_AUTO_LENGTH, &kind);
  napi_set_named_property(env, out, "kind", kind);
  set_number(env, out, "mode", st.st_mode & 07777);
  set_number(env, out, "uid", st.st_uid);
  set_number(env, out, "gid", st.st_gid);
  set_number(env, out, "size", (double)st.st_size);
  set_number(env, out, "nlink", (double)st.st_nlink);
  set_number(env, out, "dev", (double)st.st_dev);
  set_number(env, out, "ino", (double)st.st_ino);
  return out;
}

void safe_open_init(napi_env env, napi_value exports) {
  export_function(env, exports, "openAt", js_open_at);
  export_function(env, exports, "openPath", js_open_path);
  export_function(env, exports, "openPathWalk", js_open_path_walk);
  export_function(env, exports, "closeFd", js_close_fd);
  export_function(env, exports, "fstatKind", js_fstat_kind);
  napi_value v;
  napi_create_int32(env, O_PATH, &v); /* Node's fs.constants lacks it */
  napi_set_named_property(env, exports, "O_PATH", v);
}
