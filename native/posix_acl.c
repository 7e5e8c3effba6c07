/*
 * posix_acl: setAcl(target, which, acl) writes a POSIX ACL as the kernel's own xattr blob,
 * without libacl. The guest's jail grants its uid a socket or FIFO through an ACL entry.
 *   target: a path (lsetxattr: the last component is never followed; the directories above
 *           must be trusted), or an fd, e.g. O_PATH from openAt (set through the magic link
 *           /proc/self/fd/N, which names exactly that inode and follows nothing else).
 *   which:  "access" | "default" (system.posix_acl_access / system.posix_acl_default).
 *   acl:    {user, group, other, mask?, users?: [[uid, perm]...], groups?: [[gid, perm]...]},
 *           perms 0..7 (r=4 w=2 x=1). With named entries the kernel needs a mask: when absent
 *           it is the union of the named and group perms, as setfacl computes it.
 * A "default" ACL without named entries or mask removes the default ACL (ENODATA ignored).
 */
#define _GNU_SOURCE
#include "napi_util.h"
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define FN "setAcl"
#define UNDEFINED_ID ((uint32_t)ACL_UNDEFINED_ID)
/* the blob (4 + 8 bytes per entry) must fit XATTR_SIZE_MAX; 4 entries are not named */
#define MAX_NAMED ((65536 - 4) / 8 - 4)

typedef struct {
  uint32_t id;
  uint16_t tag, perm;
} entry_t;

/* The kernel's order (posix_acl_valid): by tag, named entries by id. */
static int by_tag_then_id(const void *a, const void *b) {
  const entry_t *x = a, *y = b;
  if (x->tag != y->tag) return x->tag < y->tag ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* acl[key] as a perm 0..7, or -1 when optional and undefined. */
static bool get_perm(napi_env env, napi_value acl, const char *key, bool required, int *out) {
  napi_value v;
  napi_valuetype t = napi_undefined;
  if (napi_get_named_property(env, acl, key, &v) != napi_ok) return false;
  napi_typeof(env, v, &t);
  if (t == napi_undefined && !required) {
    *out = -1;
    return true;
  }
  int64_t p;
  if (!get_integer(env, v, 0, 7, FN, key, &p)) return false;
  *out = (int)p;
  return true;
}

/* acl[key]: an optional array of [id, perm] pairs. */
static bool get_list(napi_env env, napi_value acl, const char *key, napi_value *list, uint32_t *len) {
  napi_valuetype t = napi_undefined;
  bool is_array = false;
  *len = 0;
  if (napi_get_named_property(env, acl, key, list) != napi_ok) return false;
  napi_typeof(env, *list, &t);
  if (t == napi_undefined) return true;
  if (napi_is_array(env, *list, &is_array) != napi_ok || !is_array) {
    throw_code(env, EINVAL, FN, "users and groups must be arrays of [id, perm]");
    return false;
  }
  napi_get_array_length(env, *list, len);
  return true;
}

static bool get_named(napi_env env, napi_value list, uint32_t len, uint16_t tag, entry_t *out, int *perms) {
  for (uint32_t i = 0; i < len; i++) {
    napi_value pair, id, perm;
    bool is_array = false;
    uint32_t n = 0;
    int64_t v;
    if (napi_get_element(env, list, i, &pair) != napi_ok) return false;
    napi_is_array(env, pair, &is_array);
    if (is_array) napi_get_array_length(env, pair, &n);
    if (n != 2) {
      throw_code(env, EINVAL, FN, "users and groups must be arrays of [id, perm]");
      return false;
    }
    napi_get_element(env, pair, 0, &id);
    napi_get_element(env, pair, 1, &perm);
    if (!get_integer(env, id, 0, UNDEFINED_ID - 1.0, FN, tag == ACL_USER ? "uid" : "gid", &v)) return false;
    out[i].id = (uint32_t)v;
    if (!get_integer(env, perm, 0, 7, FN, "perm", &v)) return false;
    out[i].perm = (uint16_t)v;
    out[i].tag = tag;
    *perms |= (int)v;
  }
  return true;
}

static int write_acl(const char *path, bool by_fd, const char *name, const entry_t *e, size_t n) {
  size_t size = sizeof(struct posix_acl_xattr_header) + n * sizeof(struct posix_acl_xattr_entry);
  char *blob = malloc(size);
  if (!blob) {
    errno = ENOMEM;
    return -1;
  }
  struct posix_acl_xattr_header h = {htole32(POSIX_ACL_XATTR_VERSION)};
  memcpy(blob, &h, sizeof h);
  for (size_t i = 0; i < n; i++) {
    struct posix_acl_xattr_entry x = {htole16(e[i].tag), htole16(e[i].perm), htole32(e[i].id)};
    memcpy(blob + sizeof h + i * sizeof x, &x, sizeof x);
  }
  int r = by_fd ? setxattr(path, name, blob, size, 0) : lsetxattr(path, name, blob, size, 0);
  int err = errno;
  free(blob);
  errno = err;
  return r;
}

static napi_value js_set_acl(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], users, groups;
  napi_valuetype t = napi_undefined;
  char path[PATH_MAX], which[16];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_code(env, EINVAL, FN, "setAcl(target, which, acl) needs three arguments");

  napi_typeof(env, argv[0], &t);
  bool by_fd = t == napi_number;
  if (by_fd) {
    int64_t fd;
    if (!get_integer(env, argv[0], 0, INT32_MAX, FN, "fd", &fd)) return NULL;
    snprintf(path, sizeof path, "/proc/self/fd/%d", (int)fd);
  } else if (!get_string(env, argv[0], path, sizeof path, FN)) {
    return NULL;
  }
  if (!get_string(env, argv[1], which, sizeof which, FN)) return NULL;
  bool is_default = !strcmp(which, "default");
  if (!is_default && strcmp(which, "access")) return throw_code(env, EINVAL, FN, "which must be \"access\" or \"default\"");
  const char *name = is_default ? "system.posix_acl_default" : "system.posix_acl_access";

  int user, group, other, mask;
  uint32_t nu, ng;
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_object)
    return throw_code(env, EINVAL, FN, "acl must be an object");
  if (!get_perm(env, argv[2], "user", true, &user) || !get_perm(env, argv[2], "group", true, &group) ||
      !get_perm(env, argv[2], "other", true, &other) || !get_perm(env, argv[2], "mask", false, &mask) ||
      !get_list(env, argv[2], "users", &users, &nu) || !get_list(env, argv[2], "groups", &groups, &ng))
    return NULL;
  if (nu > MAX_NAMED || ng > MAX_NAMED - nu) return throw_code(env, E2BIG, FN, "too many entries");

  if (is_default && nu + ng == 0 && mask < 0) {
    int r = by_fd ? removexattr(path, name) : lremovexattr(path, name);
    if (r < 0 && errno != ENODATA) return throw_errno(env, errno, by_fd ? "removexattr" : "lremovexattr");
    return NULL;
  }

  size_t n = 3 + nu + ng + (mask >= 0 || nu + ng > 0);
  entry_t *e = calloc(n, sizeof *e);
  if (!e) return throw_errno(env, ENOMEM, FN);
  int named_perms = group;
  size_t i = 0;
  e[i++] = (entry_t){UNDEFINED_ID, ACL_USER_OBJ, (uint16_t)user};
  e[i++] = (entry_t){UNDEFINED_ID, ACL_GROUP_OBJ, (uint16_t)group};
  e[i++] = (entry_t){UNDEFINED_ID, ACL_OTHER, (uint16_t)other};
  if (!get_named(env, users, nu, ACL_USER, e + i, &named_perms) ||
      !get_named(env, groups, ng, ACL_GROUP, e + i + nu, &named_perms)) {
    free(e);
    return NULL;
  }
  i += nu + ng;
  if (mask >= 0 || nu + ng > 0) e[i++] = (entry_t){UNDEFINED_ID, ACL_MASK, (uint16_t)(mask >= 0 ? mask : named_perms)};
  qsort(e, n, sizeof *e, by_tag_then_id);
  for (i = 1; i < n; i++)
    if (e[i].tag == e[i - 1].tag && e[i].id == e[i - 1].id) {
      free(e);
      return throw_code(env, EINVAL, FN, "a uid or gid is listed twice");
    }
  int r = write_acl(path, by_fd, name, e, n);
  free(e);
  if (r < 0) return throw_errno(env, errno, by_fd ? "setxattr" : "lsetxattr");
  return NULL;
}

void posix_acl_init(napi_env env, napi_value exports) { export_function(env, exports, "setAcl", js_set_acl); }
