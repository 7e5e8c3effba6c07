-- Live changes and kernel upgrades: memory targets, data disks and their attachments,
-- staged kernels, and where registered kernels are stored.
ALTER TABLE instances ADD COLUMN max_memory_mib INTEGER;
UPDATE instances SET max_memory_mib = memory_mib;
ALTER TABLE instances ADD COLUMN unplugged_mib INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN staged_kernel_id TEXT REFERENCES kernels(id);
ALTER TABLE instances ADD COLUMN previous_kernel_id TEXT REFERENCES kernels(id);
ALTER TABLE instances ADD COLUMN booted_kernel_id TEXT REFERENCES kernels(id);

CREATE TABLE data_disks (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE,
  kind          TEXT NOT NULL CHECK (kind IN ('raw', 'cow')),
  path          TEXT NOT NULL,
  backing_path  TEXT,
  size_bytes    INTEGER NOT NULL,
  created_at    TEXT NOT NULL
);

CREATE TABLE disk_attachments (
  disk_id      TEXT NOT NULL REFERENCES data_disks(id),
  instance_id  TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  slot         TEXT NOT NULL,                 -- ubdb .. ubdp
  read_only    INTEGER NOT NULL DEFAULT 0,
  attached_at  TEXT NOT NULL,
  PRIMARY KEY (instance_id, slot),
  UNIQUE (disk_id, instance_id)
);

ALTER TABLE operations ADD COLUMN result TEXT;  -- JSON, e.g. a rollout's outcome

CREATE TABLE console_channels (
  instance_id  TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  channel      TEXT NOT NULL,                 -- con1..con15, ssl0..ssl63
  created_at   TEXT NOT NULL,
  PRIMARY KEY (instance_id, channel)
);
