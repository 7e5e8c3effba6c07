-- Network kinds beyond switch: host (bridge + TAPs, optional NAT) and user (slirp).
-- SQLite cannot change a CHECK constraint: both tables are rebuilt and copied.
CREATE TABLE networks_v2 (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  kind        TEXT NOT NULL CHECK (kind IN ('switch', 'host', 'user')),
  subnet      TEXT NOT NULL,                 -- IPv4 CIDR, e.g. 10.77.0.0/24
  nat         INTEGER NOT NULL DEFAULT 0,    -- host: masquerade to the host's uplinks
  host_if     TEXT,                          -- host: the bridge umld created
  created_at  TEXT NOT NULL
);
INSERT INTO networks_v2 (id, name, kind, subnet, created_at) SELECT id, name, kind, subnet, created_at FROM networks;

CREATE TABLE nics_v2 (
  id           TEXT PRIMARY KEY,
  instance_id  TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  network_id   TEXT NOT NULL REFERENCES networks_v2(id),
  slot         TEXT NOT NULL,                -- eth0 .. eth15
  mac          TEXT NOT NULL,
  ip           TEXT NOT NULL,
  shared_ip    INTEGER NOT NULL DEFAULT 0,   -- user: every NIC is its own NAT behind 10.0.2.15
  host_if      TEXT,                         -- host: the TAP umld created for this NIC
  created_at   TEXT NOT NULL,
  UNIQUE (instance_id, slot)
);
INSERT INTO nics_v2 (id, instance_id, network_id, slot, mac, ip, created_at)
  SELECT id, instance_id, network_id, slot, mac, ip, created_at FROM nics;

DROP TABLE nics;
DROP TABLE networks;
ALTER TABLE networks_v2 RENAME TO networks;
ALTER TABLE nics_v2 RENAME TO nics;
CREATE UNIQUE INDEX nics_address ON nics (network_id, ip) WHERE shared_ip = 0;
CREATE UNIQUE INDEX nics_mac ON nics (network_id, mac) WHERE shared_ip = 0;
CREATE INDEX nics_network ON nics (network_id);
