-- Virtual networks and the NICs on them.
CREATE TABLE networks (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  kind        TEXT NOT NULL CHECK (kind IN ('switch')),
  subnet      TEXT NOT NULL,                 -- IPv4 CIDR, e.g. 10.77.0.0/24
  created_at  TEXT NOT NULL
);

CREATE TABLE nics (
  id           TEXT PRIMARY KEY,
  instance_id  TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  network_id   TEXT NOT NULL REFERENCES networks(id),
  slot         TEXT NOT NULL,                -- eth0 .. eth15
  mac          TEXT NOT NULL,
  ip           TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  UNIQUE (instance_id, slot),
  UNIQUE (network_id, ip),
  UNIQUE (network_id, mac)
);
