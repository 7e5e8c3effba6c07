/*
 * spawn: starts a guest's launcher with posix_spawn (CLONE_VM|CLONE_VFORK in glibc: no copy of the
 * daemon's page tables, which made Node's fork+exec cost several milliseconds of every boot) in a
 * session of its own, with default signal dispositions (Node ignores SIGPIPE; a child must not
 * inherit that), stdin/stdout/stderr from the given descriptors and nothing else (every descriptor
 * umld opens is close-on-exec). Its exit is watched through a pidfd polled by libuv, and reaped with
 * waitid(P_PIDFD), so no SIGCHLD handler is involved.
 *
 *   spawnWatched(file, argv, envp, [in, out, err], onExit(code|null, signal|null)) -> pid
 *
 * onExit runs once, in the calling thread. A worker that ends first stops watching (its child is
 * then reaped by whoever adopts it: umld's next start watches the pid instead).
 */
#define _GNU_SOURCE
#include "napi_util.h"
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

typedef struct {
  napi_env env;
  napi_ref on_exit;
  uv_poll_t poll;
  int pidfd;
  pid_t pid;
  int closing;
} watch_t;

static void free_strings(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

/* A JS array of strings as a NULL-terminated C vector (malloc'd). */
static char **get_strings(napi_env env, napi_value arr, const char *what) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array || napi_get_array_length(env, arr, &n) != napi_ok || n > 4096) {
    throw_code(env, EINVAL, "spawn", what);
    return NULL;
  }
  char **v = calloc(n + 1, sizeof *v);
  if (!v) {
    throw_errno(env, ENOMEM, "spawn");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    size_t len = 0;
    if (napi_get_element(env, arr, i, &el) != napi_ok || napi_get_value_string_utf8(env, el, NULL, 0, &len) != napi_ok ||
        !(v[i] = malloc(len + 1)) || napi_get_value_string_utf8(env, el, v[i], len + 1, &len) != napi_ok || strlen(v[i]) != len) {
      free_strings(v);
      throw_code(env, EINVAL, "spawn", what);
      return NULL;
    }
  }
  return v;
}

static void on_closed(uv_handle_t *h) {
  watch_t *w = (watch_t *)h->data;
  close(w->pidfd);
  free(w);
}

static void stop(watch_t *w) {
  if (w->closing) return;
  w->closing = 1;
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

static void cleanup_hook(void *arg) {
  watch_t *w = (watch_t *)arg;
  if (w->on_exit) napi_delete_reference(w->env, w->on_exit);
  w->on_exit = NULL;
  stop(w);
}

static void on_exit_ready(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  watch_t *w = (watch_t *)h->data;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  long rc;
  do rc = syscall(SYS_waitid, P_PIDFD, w->pidfd, &si, WEXITED | WNOHANG, NULL);
  while (rc < 0 && errno == EINTR);
  if (rc == 0 && si.si_pid == 0) return; /* not yet: wait for the next wake-up */
  int known = rc == 0; /* ECHILD: reaped by someone else, the status is lost */
  napi_env env = w->env;
  napi_remove_env_cleanup_hook(env, cleanup_hook, w);
  napi_handle_scope scope;
  if (w->on_exit && napi_open_handle_scope(env, &scope) == napi_ok) {
    napi_value cb, argv[2], global, result;
    if (!known) {
      napi_get_null(env, &argv[0]);
      napi_get_null(env, &argv[1]);
    } else if (si.si_code == CLD_EXITED) {
      napi_create_int32(env, si.si_status, &argv[0]);
      napi_get_null(env, &argv[1]);
    } else {
      const char *abbrev = sigabbrev_np(si.si_status);
      char name[32];
      snprintf(name, sizeof name, "SIG%s", abbrev ? abbrev : "UNKNOWN");
      napi_get_null(env, &argv[0]);
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &argv[1]);
    }
    if (napi_get_reference_value(env, w->on_exit, &cb) == napi_ok && cb && napi_get_global(env, &global) == napi_ok) {
      napi_async_context ctx;
      napi_value resname;
      if (napi_create_string_utf8(env, "spawnWatched", NAPI_AUTO_LENGTH, &resname) == napi_ok && napi_async_init(env, NULL, resname, &ctx) == napi_ok) {
        napi_make_callback(env, ctx, global, cb, 2, argv, &result);
        napi_async_destroy(env, ctx);
      }
    }
    bool pending = false;
    napi_value exc;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    napi_close_handle_scope(env, scope);
  }
  if (w->on_exit) napi_delete_reference(env, w->on_exit);
  w->on_exit = NULL;
  stop(w);
}

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok) return NULL;
  if (argc < 5) return throw_code(env, EINVAL, "spawn", "spawnWatched(file, argv, envp, fds, onExit)");
  char file[4096];
  if (!get_string(env, args[0], file, sizeof file, "spawn")) return NULL;
  napi_valuetype t;
  if (napi_typeof(env, args[4], &t) != napi_ok || t != napi_function) return throw_code(env, EINVAL, "spawn", "onExit must be a function");
  int64_t fds[3];
  for (uint32_t i = 0; i < 3; i++) {
    napi_value el;
    if (napi_get_element(env, args[3], i, &el) != napi_ok || !get_integer(env, el, 0, 65535, "spawn", "fd", &fds[i])) return NULL;
  }
  char **argv = get_strings(env, args[1], "argv must be an array of strings");
  if (!argv) return NULL;
  char **envp = get_strings(env, args[2], "envp must be an array of strings");
  if (!envp) {
    free_strings(argv);
    return NULL;
  }
  watch_t *w = calloc(1, sizeof *w);
  uv_loop_t *loop = NULL;
  if (!w || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    free(w);
    free_strings(argv);
    free_strings(envp);
    return throw_errno(env, ENOMEM, "spawn");
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawn_file_actions_init(&fa);
  for (int i = 0; i < 3; i++) posix_spawn_file_actions_adddup2(&fa, (int)fds[i], i);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  pid_t pid;
  int err = posix_spawn(&pid, file, &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  free_strings(argv);
  free_strings(envp);
  if (err != 0) {
    free(w);
    return throw_errno(env, err, "posix_spawn");
  }
  w->env = env;
  w->pid = pid;
  w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int r = w->pidfd < 0 ? -errno : uv_poll_init(loop, &w->poll, w->pidfd);
  if (r == 0) {
    w->poll.data = w;
    r = uv_poll_start(&w->poll, UV_READABLE, on_exit_ready);
    if (r != 0) {
      uv_close((uv_handle_t *)&w->poll, on_closed);
      kill(-pid, SIGKILL);
      return throw_errno(env, -r, "uv_poll_start");
    }
  } else {
    if (w->pidfd >= 0) close(w->pidfd);
    free(w);
    kill(-pid, SIGKILL); /* nobody could see it end: do not leave it running */
    return throw_errno(env, -r, "pidfd_open");
  }
  if (napi_create_reference(env, args[4], 1, &w->on_exit) != napi_ok || napi_add_env_cleanup_hook(env, cleanup_hook, w) != napi_ok) {
    stop(w);
    kill(-pid, SIGKILL);
    return throw_errno(env, ENOMEM, "spawn");
  }
  napi_value out;
  napi_create_int32(env, pid, &out);
  return out;
}

void spawn_init(napi_env env, napi_value exports) { export_function(env, exports, "spawnWatched", js_spawn); }
