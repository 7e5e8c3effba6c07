/*
 * uds_dgram: connected AF_UNIX SOCK_DGRAM sockets for Node.js, safe in worker threads.
 *
 * Why our own: unix-dgram (NAN) aborts inside worker threads; node-unix-socket has no
 * connect(), and an unconnected client loses multi-part mconsole replies past the
 * receiver queue limit (net.unix.max_dgram_qlen). Pure N-API + libuv, no global state,
 * so each worker's environment owns its sockets and cleans them up when it exits.
 *
 * JS API (one object per socket):
 *   const s = new Socket(onMessage)   // onMessage(buf: Buffer, truncated: boolean) per datagram
 *   s.bind(path); s.connect(path); s.send(buf) -> bytes; s.close()
 *   (a path "@name" is the abstract name "name", as systemd's NOTIFY_SOCKET may give)
 * - Receiving starts at bind(). A datagram longer than 64 KiB is delivered cut to its first
 *   64 KiB with truncated = true (recvmsg MSG_TRUNC): the caller decides, nothing is dropped unseen.
 * - An exception thrown by onMessage is not swallowed: it becomes an uncaught exception of
 *   the socket's thread (napi_fatal_exception, as Node core does for its own handles).
 * - close() stops receiving, closes the fd and drops the reference to onMessage, so a closed
 *   socket and whatever its closure holds (often the socket itself) can be collected.
 * - connect("/proc/self/fd/N"), N an O_PATH fd of the socket file, reaches that socket without
 *   resolving its path again (tests/unit/native.test.ts shows it).
 * Errors are thrown as Error with .code = "ENOENT"/"ECONNREFUSED"/..., .errno and .syscall.
 */
#define _GNU_SOURCE
#include "napi_util.h"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#define MAX_DGRAM 65536

typedef struct {
  napi_env env;
  napi_ref on_message; /* strong until close(): the callback may hold the wrapper (a cycle) */
  napi_ref self;       /* weak: `this` for the callback */
  uv_poll_t *poll;     /* heap: freed in its close callback */
  int fd;
} uds_t;

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void stop_polling(uds_t *u) {
  if (!u->poll) return;
  uv_poll_stop(u->poll);
  uv_close((uv_handle_t *)u->poll, on_poll_closed);
  u->poll = NULL;
}

/* Idempotent: close(), the env cleanup hook and the finalizer all come here. */
static void uds_shutdown(uds_t *u) {
  stop_polling(u);
  if (u->fd >= 0) {
    close(u->fd);
    u->fd = -1;
  }
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

/* A pending JS exception becomes this thread's uncaught exception instead of poisoning later N-API calls. */
static void surface_exception(napi_env env) {
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exc) == napi_ok)
    napi_fatal_exception(env, exc);
}

static void deliver(uds_t *u, const char *data, size_t len, bool truncated) {
  napi_env env = u->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb = NULL, thisv = NULL, argv[2], resname, result;
  napi_async_context ctx;
  if (u->on_message && napi_get_reference_value(env, u->on_message, &cb) == napi_ok && cb &&
      napi_get_reference_value(env, u->self, &thisv) == napi_ok &&
      napi_create_buffer_copy(env, len, data, NULL, &argv[0]) == napi_ok &&
      napi_get_boolean(env, truncated, &argv[1]) == napi_ok &&
      napi_create_string_utf8(env, "uds_dgram", NAPI_AUTO_LENGTH, &resname) == napi_ok &&
      napi_async_init(env, NULL, resname, &ctx) == napi_ok) {
    /* thisv is NULL once the wrapper is garbage and its finalizer pending */
    napi_make_callback(env, ctx, thisv ? thisv : cb, cb, 2, argv, &result);
    napi_async_destroy(env, ctx);
  }
  surface_exception(env);
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  uds_t *u = (uds_t *)h->data;
  if (status < 0) { /* the fd is broken: stop, or libuv would call us again and again */
    stop_polling(u);
    return;
  }
  static __thread char buf[MAX_DGRAM]; /* per thread: each worker has its own */
  while (u->fd >= 0) {                  /* onMessage may close the socket */
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(u->fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return; /* EAGAIN, or a peer's ECONNRESET (reported once): wait for the next wake-up */
    }
    deliver(u, buf, (size_t)n, (msg.msg_flags & MSG_TRUNC) != 0);
  }
}

static uds_t *this_socket(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, bool open) {
  napi_value thisv;
  uds_t *u = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &thisv, NULL) != napi_ok ||
      napi_unwrap(env, thisv, (void **)&u) != napi_ok || !u) {
    napi_throw_type_error(env, "EINVAL", "not a Socket");
    return NULL;
  }
  if (open && u->fd < 0) {
    throw_errno(env, EBADF, "closed");
    return NULL;
  }
  return u;
}

static napi_value js_ctor(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], thisv;
  napi_valuetype t = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, &thisv, NULL) != napi_ok) return NULL;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "EINVAL", "new Socket(onMessage) needs a function");
    return NULL;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  uds_t *u = calloc(1, sizeof *u);
  if (!u) {
    close(fd);
    return throw_errno(env, ENOMEM, "socket");
  }
  u->env = env;
  u->fd = fd;
  if (napi_create_reference(env, argv[0], 1, &u->on_message) != napi_ok) goto fail;
  if (napi_add_env_cleanup_hook(env, cleanup_hook, u) != napi_ok) goto fail;
  if (napi_wrap(env, thisv, u, uds_finalize, NULL, &u->self) != napi_ok) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, u);
    goto fail;
  }
  return thisv; /* from here the finalizer owns u */
fail:
  if (u->on_message) napi_delete_reference(env, u->on_message);
  close(fd);
  free(u);
  return throw_errno(env, ENOMEM, "socket"); /* a no-op if N-API left an exception pending */
}

static int start_polling(napi_env env, uds_t *u) {
  if (u->poll) return 0;
  uv_loop_t *loop = NULL;
  uv_poll_t *p = malloc(sizeof *p);
  if (!p || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    free(p);
    throw_errno(env, ENOMEM, "uv_poll_init");
    return -1;
  }
  int r = uv_poll_init(loop, p, u->fd);
  if (r != 0) {
    free(p);
    throw_errno(env, -r, "uv_poll_init");
    return -1;
  }
  p->data = u;
  r = uv_poll_start(p, UV_READABLE, on_readable);
  if (r != 0) {
    uv_close((uv_handle_t *)p, on_poll_closed);
    throw_errno(env, -r, "uv_poll_start");
    return -1;
  }
  u->poll = p;
  return 0;
}

/* A path, or "@name" for the abstract namespace (as systemd's NOTIFY_SOCKET may be): *len is the address length to pass. */
static bool get_addr(napi_env env, size_t argc, napi_value *argv, struct sockaddr_un *addr, socklen_t *len, const char *fn) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  *len = sizeof *addr;
  if (argc < 1) {
    throw_code(env, EINVAL, fn, "needs a path");
    return false;
  }
  if (!get_string(env, argv[0], addr->sun_path, sizeof addr->sun_path, fn)) return false; /* < 108 bytes */
  if (addr->sun_path[0] == '@') {
    /* an abstract name is exactly its bytes, no NUL after it: the length says where it ends */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(addr->sun_path));
    addr->sun_path[0] = '\0';
  }
  return true;
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct sockaddr_un addr;
  socklen_t len;
  uds_t *u = this_socket(env, info, &argc, argv, true);
  if (!u || !get_addr(env, argc, argv, &addr, &len, "bind")) return NULL;
  if (bind(u->fd, (struct sockaddr *)&addr, len) < 0) return throw_errno(env, errno, "bind");
  start_polling(env, u);
  return NULL;
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct sockaddr_un addr;
  socklen_t len;
  uds_t *u = this_socket(env, info, &argc, argv, true);
  if (!u || !get_addr(env, argc, argv, &addr, &len, "connect")) return NULL;
  if (connect(u->fd, (struct sockaddr *)&addr, len) < 0) return throw_errno(env, errno, "connect");
  return NULL;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  uds_t *u = this_socket(env, info, &argc, argv, true);
  if (!u) return NULL;
  void *data = NULL;
  size_t len = 0;
  bool isbuf = false;
  if (argc >= 1) napi_is_buffer(env, argv[0], &isbuf);
  if (!isbuf || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "send(buf) needs a Buffer");
    return NULL;
  }
  ssize_t n;
  do n = send(u->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "send");
  napi_create_int64(env, (int64_t)n, &out);
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  uds_t *u = this_socket(env, info, NULL, NULL, false);
  if (!u) return NULL;
  uds_shutdown(u);
  if (u->on_message) { /* breaks onMessage -> wrapper -> on_message: see the header */
    napi_delete_reference(env, u->on_message);
    u->on_message = NULL;
  }
  return NULL;
}

void uds_dgram_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  napi_define_class(env, "Socket", NAPI_AUTO_LENGTH, js_ctor, NULL, sizeof props / sizeof props[0], props, &cls);
  napi_set_named_property(env, exports, "Socket", cls);
}
