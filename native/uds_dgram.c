/*
 * uds_dgram: connected AF_UNIX SOCK_DGRAM sockets for Node.js, safe in worker threads.
 *
 * Why our own: unix-dgram (NAN) aborts inside worker threads; node-unix-socket has no
 * connect(), and an unconnected client loses multi-part mconsole replies past the
 * receiver queue limit (net.unix.max_dgram_qlen). Pure N-API + libuv, no global state,
 * so each worker's environment owns its sockets and cleans them up when it exits.
 *
 * JS API (one object per socket):
 *   const s = new Socket(onMessage)   // onMessage(buf: Buffer) for every datagram
 *   s.bind(path); s.connect(path); s.send(buf) -> bytes; s.close()
 * Errors are thrown as Error with .code = "ENOENT"/"ECONNREFUSED"/... and .syscall.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_DGRAM 65536

typedef struct {
  napi_env env;
  napi_ref on_message;
  napi_ref self;
  uv_poll_t *poll; /* heap: freed in its close callback */
  int fd;
  int polling;
} uds_t;

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value msg, code, errobj, sc;
  char text[256];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, NULL, msg, &errobj);
  napi_set_named_property(env, errobj, "code", code);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, errobj, "syscall", sc);
  napi_value errnum;
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, errobj, "errno", errnum);
  napi_throw(env, errobj);
  return NULL;
}

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void uds_shutdown(uds_t *u) {
  if (u->poll) {
    uv_poll_stop(u->poll);
    uv_close((uv_handle_t *)u->poll, on_poll_closed);
    u->poll = NULL;
  }
  if (u->fd >= 0) {
    close(u->fd);
    u->fd = -1;
  }
  u->polling = 0;
}

static void cleanup_hook(void *arg) { uds_shutdown((uds_t *)arg); }

static void uds_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  uds_t *u = (uds_t *)data;
  napi_remove_env_cleanup_hook(env, cleanup_hook, u);
  uds_shutdown(u);
  if (u->on_message) napi_delete_reference(env, u->on_message);
  if (u->self) napi_delete_reference(env, u->self);
  free(u);
}

static int fill_addr(napi_env env, napi_value v, struct sockaddr_un *addr) {
  size_t len = 0;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "path must be a string");
    return -1;
  }
  if (len == 0 || len >= sizeof addr->sun_path) {
    napi_throw_range_error(env, "ENAMETOOLONG", "socket path empty or longer than 107 bytes");
    return -1;
  }
  napi_get_value_string_utf8(env, v, addr->sun_path, sizeof addr->sun_path, &len);
  return 0;
}

static uds_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value thisv;
  uds_t *u = NULL;
  napi_get_cb_info(env, info, argc, argv, &thisv, NULL);
  napi_unwrap(env, thisv, (void **)&u);
  if (u && u->fd < 0) {
    throw_errno(env, EBADF, "closed");
    return NULL;
  }
  return u;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  uds_t *u = (uds_t *)h->data;
  napi_env env = u->env;
  if (status < 0 || u->fd < 0) return;
  static __thread char buf[MAX_DGRAM];
  for (;;) {
    ssize_t n = recv(u->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return; /* EAGAIN or a transient error: wait for the next wake-up */
    }
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value cb, thisv, res, arg;
    void *data = NULL;
    napi_create_buffer_copy(env, (size_t)n, buf, &data, &arg);
    napi_get_reference_value(env, u->on_message, &cb);
    napi_get_reference_value(env, u->self, &thisv);
    napi_async_context ctx = NULL;
    napi_value resname;
    napi_create_string_utf8(env, "uds_dgram", NAPI_AUTO_LENGTH, &resname);
    napi_async_init(env, NULL, resname, &ctx);
    napi_make_callback(env, ctx, thisv ? thisv : cb, cb, 1, &arg, &res);
    napi_async_destroy(env, ctx);
    napi_close_handle_scope(env, scope);
    if (u->fd < 0) return; /* closed from the callback */
  }
}

static napi_value js_ctor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], thisv;
  napi_get_cb_info(env, info, &argc, argv, &thisv, NULL);
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "EINVAL", "new Socket(onMessage) needs a function");
    return NULL;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  uds_t *u = calloc(1, sizeof *u);
  u->env = env;
  u->fd = fd;
  napi_create_reference(env, argv[0], 1, &u->on_message);
  napi_wrap(env, thisv, u, uds_finalize, NULL, &u->self);
  napi_add_env_cleanup_hook(env, cleanup_hook, u);
  return thisv;
}

static int start_polling(napi_env env, uds_t *u) {
  if (u->polling) return 0;
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  u->poll = malloc(sizeof *u->poll);
  if (uv_poll_init(loop, u->poll, u->fd) != 0) {
    free(u->poll);
    u->poll = NULL;
    throw_errno(env, EIO, "uv_poll_init");
    return -1;
  }
  u->poll->data = u;
  uv_poll_start(u->poll, UV_READABLE, on_readable);
  u->polling = 1;
  return 0;
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uds_t *u = unwrap(env, info, &argc, argv);
  if (!u) return NULL;
  struct sockaddr_un addr;
  if (argc < 1 || fill_addr(env, argv[0], &addr) < 0) return NULL;
  if (bind(u->fd, (struct sockaddr *)&addr, sizeof addr) < 0) return throw_errno(env, errno, "bind");
  if (start_polling(env, u) < 0) return NULL;
  return NULL;
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uds_t *u = unwrap(env, info, &argc, argv);
  if (!u) return NULL;
  struct sockaddr_un addr;
  if (argc < 1 || fill_addr(env, argv[0], &addr) < 0) return NULL;
  if (connect(u->fd, (struct sockaddr *)&addr, sizeof addr) < 0) return throw_errno(env, errno, "connect");
  return NULL;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  uds_t *u = unwrap(env, info, &argc, argv);
  if (!u) return NULL;
  void *data = NULL;
  size_t len = 0;
  bool isbuf = false;
  if (argc >= 1) napi_is_buffer(env, argv[0], &isbuf);
  if (!isbuf) {
    napi_throw_type_error(env, "EINVAL", "send(buf) needs a Buffer");
    return NULL;
  }
  napi_get_buffer_info(env, argv[0], &data, &len);
  ssize_t n;
  do n = send(u->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "send");
  napi_create_int64(env, (int64_t)n, &out);
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value thisv;
  uds_t *u = NULL;
  napi_get_cb_info(env, info, NULL, NULL, &thisv, NULL);
  napi_unwrap(env, thisv, (void **)&u);
  if (u) uds_shutdown(u);
  return NULL;
}

/* mkfifo(path, mode): Node has no mkfifo; the console is carried on FIFOs. */
static napi_value js_mkfifo(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t len = 0;
  uint32_t mode = 0600;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 ||
      len >= sizeof path - 1) {
    napi_throw_type_error(env, "EINVAL", "mkfifo(path, mode) needs a path");
    return NULL;
  }
  if (argc >= 2) napi_get_value_uint32(env, argv[1], &mode);
  if (mkfifo(path, (mode_t)mode) < 0) return throw_errno(env, errno, "mkfifo");
  return NULL;
}

/*
 * openFd(path, flags) -> fd. For fds handed to libuv (net.Socket): Node closes
 * fds opened through its fs module again when a worker thread exits, which
 * double-closes a descriptor libuv already closed and hits whatever reused it.
 */
static napi_value js_open_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t len = 0;
  int32_t flags = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 ||
      len >= sizeof path - 1 || napi_get_value_int32(env, argv[1], &flags) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "openFd(path, flags) needs a path and flags");
    return NULL;
  }
  int fd;
  do fd = open(path, flags | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return throw_errno(env, errno, "open");
  napi_create_int32(env, fd, &out);
  return out;
}

/* setPipeSize(fd, bytes) -> new size: F_SETPIPE_SZ. A full console pipe makes UML wait a timer tick. */
static napi_value js_set_pipe_size(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  int32_t fd = -1, size = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &size) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "setPipeSize(fd, bytes) needs two integers");
    return NULL;
  }
  int r = fcntl(fd, F_SETPIPE_SZ, size);
  if (r < 0) return throw_errno(env, errno, "fcntl(F_SETPIPE_SZ)");
  napi_create_int32(env, r, &out);
  return out;
}

/*
 * peerUid(fd) -> the uid of the process at the other end of a connected unix
 * stream socket (SO_PEERCRED), or -1: umld's local socket is admin for root only.
 */
static napi_value js_peer_uid(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "peerUid(fd) needs an integer");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return throw_errno(env, errno, "getsockopt(SO_PEERCRED)");
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

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  napi_define_class(env, "Socket", NAPI_AUTO_LENGTH, js_ctor, NULL, 4, props, &cls);
  napi_set_named_property(env, exports, "Socket", cls);
  napi_value mk;
  napi_create_function(env, "mkfifo", NAPI_AUTO_LENGTH, js_mkfifo, NULL, &mk);
  napi_set_named_property(env, exports, "mkfifo", mk);
  napi_value of;
  napi_create_function(env, "openFd", NAPI_AUTO_LENGTH, js_open_fd, NULL, &of);
  napi_set_named_property(env, exports, "openFd", of);
  napi_value sp;
  napi_create_function(env, "setPipeSize", NAPI_AUTO_LENGTH, js_set_pipe_size, NULL, &sp);
  napi_set_named_property(env, exports, "setPipeSize", sp);
  napi_value op;
  napi_create_function(env, "openpty", NAPI_AUTO_LENGTH, js_openpty, NULL, &op);
  napi_set_named_property(env, exports, "openpty", op);
  napi_value pu;
  napi_create_function(env, "peerUid", NAPI_AUTO_LENGTH, js_peer_uid, NULL, &pu);
  napi_set_named_property(env, exports, "peerUid", pu);
  return exports;
}
