{
  "targets": [
    {
      "target_name": "uds_dgram",
      "sources": ["uds_dgram.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
