{
  "targets": [
    {
      "target_name": "uds_dgram",
      "sources": ["napi_util.c", "uds_dgram.c", "fd_ops.c", "safe_open.c", "posix_acl.c", "spawn.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
