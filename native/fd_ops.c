/*
 * fd_ops: small syscalls Node lacks or must not own: mkfifo, open outside Node's fs,
 * F_SETPIPE_SZ, SO_PEERCRED, a pty pair.
 */
#define _GNU_SOURCE
#include "napi_util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkfifo(path, mode): Node has no mkfifo; the console is carried on FIFOs. Never follows a final symlink (EEXIST). */
static napi_value js_mkfifo(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[4096];
  int64_t mode = 0600;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return throw_code(env, EINVAL, "mkfifo", "mkfifo(path, mode) needs a path");
  if (!get_string(env, argv[0], path, sizeof path, "mkfifo") ||
      !get_optional_integer(env, argc, argv, 1, 0, 07777, "mkfifo", "mode", &mode))
    return NULL;
  if (mkfifo(path, (mode_t)mode) < 0) return throw_errno(env, errno, "mkfifo");
  return NULL;
}

/*
 * openFd(path, flags, mode = 0o600) -> fd, always O_NOFOLLOW|O_CLOEXEC. For fds handed to
 * libuv (net.Socket): Node closes fds opened through its fs module again when a worker
 * thread exits, which double-closes a descriptor libuv already closed and hits whatever
 * reused it. O_NOFOLLOW guards the last component only: see openPath for whole paths.
 */
static napi_value js_open_fd(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  char path[4096];
  int64_t flags = 0, mode = 0600;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_code(env, EINVAL, "open", "openFd(path, flags) needs a path and flags");
  if (!get_string(env, argv[0], path, sizeof path, "open") ||
      !get_integer(env, argv[1], INT32_MIN, INT32_MAX, "open", "flags", &flags) ||
      !get_optional_integer(env, argc, argv, 2, 0, 07777, "open", "mode", &mode))
    return NULL;
  int fd;
  do fd = open(path, (int)flags | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return throw_errno(env, errno, "open");
  napi_create_int32(env, fd, &out);
  return out;
}

/* setPipeSize(fd, bytes) -> new size: F_SETPIPE_SZ. A full console pipe makes UML wait a timer tick. */
/* pipe2(O_CLOEXEC): [read end, write end], descriptors outside Node's fs (close them with closeFd). */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return throw_errno(env, errno, "pipe2");
  napi_value arr, r, w;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, fds[0], &r);
  napi_create_int32(env, fds[1], &w);
  napi_set_element(env, arr, 0, r);
  napi_set_element(env, arr, 1, w);
  return arr;
}

static napi_value js_set_pipe_size(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  int64_t fd = -1, size = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_code(env, EINVAL, "fcntl(F_SETPIPE_SZ)", "setPipeSize(fd, bytes) needs two integers");
  if (!get_integer(env, argv[0], 0, INT32_MAX, "fcntl(F_SETPIPE_SZ)", "fd", &fd) ||
      !get_integer(env, argv[1], 0, INT32_MAX, "fcntl(F_SETPIPE_SZ)", "bytes", &size))
    return NULL;
  int r = fcntl((int)fd, F_SETPIPE_SZ, (int)size);
  if (r < 0) return throw_errno(env, errno, "fcntl(F_SETPIPE_SZ)");
  napi_create_int32(env, r, &out);
  return out;
}

/*
 * peerUid(fd) -> the uid of the process at the other end of a connected unix
 * stream socket (SO_PEERCRED): umld's local socket is admin for root only.
 */
static napi_value js_peer_uid(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int64_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return throw_code(env, EINVAL, "getsockopt(SO_PEERCRED)", "peerUid(fd) needs an integer");
  if (!get_integer(env, argv[0], 0, INT32_MAX, "getsockopt(SO_PEERCRED)", "fd", &fd)) return NULL;
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt((int)fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return throw_errno(env, errno, "getsockopt(SO_PEERCRED)");
  napi_create_int64(env, (int64_t)cred.uid, &out);
  return out;
}

/*
 * openpty() -> { master: fd, slave: "/dev/pts/N" }: a pty pair whose master umld
 * keeps, so a UML console channel (tty:/dev/pts/N) exists before the guest
 * opens the line and survives guest reboots.
 */
static napi_value js_openpty(napi_env env, napi_callback_info info) {
  (void)info;
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return throw_errno(env, errno, "posix_openpt");
  char name[128];
  if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof name) != 0) {
    int e = errno;
    close(m);
    return throw_errno(env, e, "openpty");
  }
  napi_value out, fd, slave;
  napi_create_object(env, &out);
  napi_create_int32(env, m, &fd);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &slave);
  napi_set_named_property(env, out, "master", fd);
  napi_set_named_property(env, out, "slave", slave);
  return out;
}

/*
 * dataExtents(fd) -> [[start, end], ...]: the parts of a regular file that hold data
 * (SEEK_DATA/SEEK_HOLE), so a sparse disk is copied without reading its holes. A
 * filesystem without them (EINVAL) answers the whole file, which is never wrong.
 */
static napi_value js_data_extents(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr;
  int64_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return throw_code(env, EINVAL, "lseek(SEEK_DATA)", "dataExtents(fd) needs an integer");
  if (!get_integer(env, argv[0], 0, INT32_MAX, "lseek(SEEK_DATA)", "fd", &fd)) return NULL;
  struct stat st;
  if (fstat((int)fd, &st) < 0) return throw_errno(env, errno, "fstat");
  napi_create_array(env, &arr);
  uint32_t n = 0;
  off_t pos = 0;
  while (pos < st.st_size) {
    off_t start = lseek((int)fd, pos, SEEK_DATA);
    if (start < 0 && errno == ENXIO) break; /* only a hole is left */
    if (start < 0 && errno == EINVAL && n == 0) start = 0, pos = st.st_size; /* no SEEK_DATA here: all of it */
    else if (start < 0) return throw_errno(env, errno, "lseek(SEEK_DATA)");
    off_t end = pos == st.st_size ? st.st_size : lseek((int)fd, start, SEEK_HOLE);
    if (end < 0) return throw_errno(env, errno, "lseek(SEEK_HOLE)");
    if (end > st.st_size) end = st.st_size;
    napi_value pair, a, b;
    napi_create_array_with_length(env, 2, &pair);
    napi_create_double(env, (double)start, &a);
    napi_create_double(env, (double)end, &b);
    napi_set_element(env, pair, 0, a);
    napi_set_element(env, pair, 1, b);
    napi_set_element(env, arr, n++, pair);
    pos = end;
  }
  return arr;
}

void fd_ops_init(napi_env env, napi_value exports) {
  export_function(env, exports, "mkfifo", js_mkfifo);
  export_function(env, exports, "openFd", js_open_fd);
  export_function(env, exports, "setPipeSize", js_set_pipe_size);
  export_function(env, exports, "pipe", js_pipe);
  export_function(env, exports, "peerUid", js_peer_uid);
  export_function(env, exports, "openpty", js_openpty);
  export_function(env, exports, "dataExtents", js_data_extents);
}
