/* napi_util: Node-shaped errors and checked argument reading, shared by the addon's files. */
#ifndef UMLD_NAPI_UTIL_H
#define UMLD_NAPI_UTIL_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Throws Error("<syscall>: <strerror>") with .code ("ENOENT"...), .errno and .syscall; returns NULL. */
napi_value throw_errno(napi_env env, int err, const char *syscall);
/* The same error shape with our own message, for refused arguments. */
napi_value throw_code(napi_env env, int err, const char *syscall, const char *message);

/* A JS string copied into buf: refuses a non-string, "", an embedded NUL and one that does not fit. */
bool get_string(napi_env env, napi_value v, char *buf, size_t size, const char *fn);
/* An integral number in [min, max] (doubles: uids up to 2^32-1 fit); throws EINVAL otherwise. */
bool get_integer(napi_env env, napi_value v, double min, double max, const char *fn, const char *what, int64_t *out);
/* Args beyond argc, or undefined, leave *out untouched (the default). */
bool get_optional_integer(napi_env env, size_t argc, napi_value *argv, size_t i, double min, double max,
                          const char *fn, const char *what, int64_t *out);

void set_number(napi_env env, napi_value obj, const char *key, double v);
void export_function(napi_env env, napi_value exports, const char *name, napi_callback fn);

/* The parts of the module, each adding its exports (called from NAPI_MODULE_INIT in napi_util.c). */
void uds_dgram_init(napi_env env, napi_value exports);
void fd_ops_init(napi_env env, napi_value exports);
void safe_open_init(napi_env env, napi_value exports);
void posix_acl_init(napi_env env, napi_value exports);
void spawn_init(napi_env env, napi_value exports);
#endif
