-- umld schema v1: kernels, images, instances, their disks, operations and the state history.
CREATE TABLE kernels (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  path        TEXT NOT NULL,
  version     TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  size_bytes  INTEGER NOT NULL,
  mtime_ms    INTEGER NOT NULL,
  is_default  INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL
);

CREATE TABLE images (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  path        TEXT NOT NULL,
  size_bytes  INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  readiness   TEXT NOT NULL CHECK (readiness IN ('notify', 'none')),
  is_default  INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL
);

CREATE TABLE instances (
  id                TEXT PRIMARY KEY,
  name              TEXT NOT NULL UNIQUE,
  state             TEXT NOT NULL CHECK (state IN ('stopped','starting','running','paused','stopping','crashed')),
  ready             INTEGER NOT NULL DEFAULT 0,
  memory_mib        INTEGER NOT NULL,
  image_id          TEXT NOT NULL REFERENCES images(id),
  kernel_id         TEXT NOT NULL REFERENCES kernels(id),
  boot_options      TEXT NOT NULL,            -- JSON array of strings
  pid               INTEGER,
  started_at        TEXT,
  boot_count        INTEGER NOT NULL DEFAULT 0,
  last_exit_code    INTEGER,
  last_exit_signal  TEXT,
  last_exit_reason  TEXT,
  last_exit_at      TEXT,
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL
);

CREATE TABLE disks (
  id              TEXT PRIMARY KEY,
  instance_id     TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  slot            TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('cow', 'raw')),
  path            TEXT NOT NULL,
  backing_path    TEXT,
  backing_size    INTEGER,
  backing_mtime   INTEGER,
  size_bytes      INTEGER NOT NULL,
  created_at      TEXT NOT NULL,
  UNIQUE (instance_id, slot)
);

CREATE TABLE state_history (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id  TEXT NOT NULL,
  from_state   TEXT NOT NULL,
  to_state     TEXT NOT NULL,
  reason       TEXT NOT NULL,
  at           TEXT NOT NULL
);
CREATE INDEX state_history_instance ON state_history (instance_id, seq);

CREATE TABLE operations (
  id           TEXT PRIMARY KEY,
  kind         TEXT NOT NULL,
  target       TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  error        TEXT,                           -- JSON {code, message, details}
  created_at   TEXT NOT NULL,
  finished_at  TEXT
);
