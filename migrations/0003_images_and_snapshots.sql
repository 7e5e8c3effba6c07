-- Imported images and snapshots: where an image came from, and instance snapshots (sealed, flattened images).
ALTER TABLE images ADD COLUMN kind TEXT NOT NULL DEFAULT 'built-in' CHECK (kind IN ('built-in', 'imported', 'snapshot', 'merged'));
ALTER TABLE images ADD COLUMN source TEXT;

CREATE TABLE snapshots (
  id           TEXT PRIMARY KEY,
  instance_id  TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  image_id     TEXT NOT NULL REFERENCES images(id),
  created_at   TEXT NOT NULL,
  UNIQUE (instance_id, name)
);

-- Per-instance disk quota: the most the instance's writable layers may grow (virtual MiB), NULL = none.
ALTER TABLE instances ADD COLUMN disk_quota_mib INTEGER;
