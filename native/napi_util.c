/* napi_util: see napi_util.h. Also the module entry, which adds each file's exports. */
#define _GNU_SOURCE
#include "napi_util.h"
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

static napi_value make_error(napi_env env, int err, const char *syscall, const char *text) {
  napi_value msg, errobj, v;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  if (napi_create_error(env, NULL, msg, &errobj) != napi_ok) return NULL;
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, errobj, "code", v);
  napi_create_int32(env, -err, &v); /* negative, as Node's fs errors */
  napi_set_named_property(env, errobj, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, errobj, "syscall", v);
  return errobj;
}

napi_value throw_code(napi_env env, int err, const char *syscall, const char *message) {
  char text[512];
  snprintf(text, sizeof text, "%s: %s", syscall, message);
  napi_value e = make_error(env, err, syscall, text);
  if (e) napi_throw(env, e);
  return NULL;
}

napi_value throw_errno(napi_env env, int err, const char *syscall) {
  return throw_code(env, err, syscall, strerror(err));
}

bool get_string(napi_env env, napi_value v, char *buf, size_t size, const char *fn) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    throw_code(env, EINVAL, fn, "expected a string");
    return false;
  }
  if (len == 0) {
    throw_code(env, EINVAL, fn, "empty string");
    return false;
  }
  if (len >= size) {
    throw_code(env, ENAMETOOLONG, fn, "string too long");
    return false;
  }
  napi_get_value_string_utf8(env, v, buf, size, &len);
  if (strlen(buf) != len) { /* "a\0/etc/shadow" must not become "a" */
    throw_code(env, EINVAL, fn, "string contains a NUL byte");
    return false;
  }
  return true;
}

bool get_integer(napi_env env, napi_value v, double min, double max, const char *fn, const char *what, int64_t *out) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != floor(d) || d < min || d > max) {
    char text[160];
    snprintf(text, sizeof text, "%s must be an integer from %.0f to %.0f", what, min, max);
    throw_code(env, EINVAL, fn, text);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool get_optional_integer(napi_env env, size_t argc, napi_value *argv, size_t i, double min, double max,
                          const char *fn, const char *what, int64_t *out) {
  napi_valuetype t = napi_undefined;
  if (i >= argc || (napi_typeof(env, argv[i], &t) == napi_ok && t == napi_undefined)) return true;
  return get_integer(env, argv[i], min, max, fn, what, out);
}

void set_number(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, key, n);
}

void export_function(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  napi_set_named_property(env, exports, name, f);
}

/*
 * Node unloads an addon when the last environment that loaded it ends (a worker), but libuv
 * can call a poll handle's close callback (uds_dgram.c) after that: without this, a
 * terminated worker crashed in unmapped code. RTLD_NOLOAD|RTLD_NODELETE pins the loaded copy.
 */
static void pin_in_memory(void) {
  Dl_info self;
  if (dladdr((void *)pin_in_memory, &self) && self.dli_fname) dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

NAPI_MODULE_INIT() {
  pin_in_memory();
  uds_dgram_init(env, exports);
  fd_ops_init(env, exports);
  safe_open_init(env, exports);
  posix_acl_init(env, exports);
  spawn_init(env, exports);
  return exports;
}
