-- Tenants, API tokens and the audit log.
CREATE TABLE tenants (
  id                TEXT PRIMARY KEY,
  name              TEXT NOT NULL UNIQUE,
  max_instances     INTEGER,                 -- NULL: no limit
  max_memory_mib    INTEGER,                 -- sum of the instances' maxMemoryMiB
  max_disk_mib      INTEGER,                 -- sum of the instances' disk quotas (or root image sizes)
  max_snapshots     INTEGER,
  guest_uid         INTEGER,                 -- the host uid/gid its guests run as; NULL: the daemon's guest user
  guest_gid         INTEGER,
  created_at        TEXT NOT NULL
);

CREATE TABLE tokens (
  id            TEXT PRIMARY KEY,            -- public part of the token: umld_<id>_<secret>
  tenant_id     TEXT REFERENCES tenants(id) ON DELETE CASCADE,  -- NULL: an admin token
  name          TEXT NOT NULL,
  secret_hash   TEXT NOT NULL,               -- sha256 of the secret; the secret is shown once
  actions       TEXT NOT NULL,               -- JSON array of permissions
  expires_at    TEXT,
  revoked_at    TEXT,
  created_at    TEXT NOT NULL,
  last_used_at  TEXT,
  UNIQUE (tenant_id, name)
);

CREATE TABLE audit (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  at           TEXT NOT NULL,
  principal    TEXT NOT NULL,                -- "admin", "admin:<token name>", "<tenant>:<token name>", "local"
  tenant       TEXT,                         -- the tenant acted for, if any
  action       TEXT NOT NULL,                -- route name, or console.attach
  object       TEXT,                         -- e.g. instances/web-1
  status       INTEGER NOT NULL,
  outcome      TEXT NOT NULL,                -- ok, or the error code
  remote       TEXT
);
CREATE INDEX audit_at ON audit (at);

-- hostfs: NULL confines it to an empty directory; an admin may grant one host directory.
ALTER TABLE instances ADD COLUMN hostfs_dir TEXT;

