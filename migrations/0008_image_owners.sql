-- Images have an owner: a tenant (by name), or NULL for the admin. shared = 1: the admin's shared catalogue, seen by every tenant.
ALTER TABLE images ADD COLUMN owner TEXT;
ALTER TABLE images ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;
-- The instance an image was made for (its snapshot, its clone's base): deleted with it when nothing else uses it.
ALTER TABLE images ADD COLUMN instance_id TEXT;

UPDATE images SET shared = 1 WHERE kind IN ('built-in', 'imported');
-- Derived images: the tenant of the instance a snapshot belongs to, else of a `<tenant>.` name prefix, else the admin's (private).
UPDATE images SET owner = COALESCE(
  (SELECT t.name FROM snapshots s JOIN instances i ON i.id = s.instance_id JOIN tenants t ON t.name = substr(i.name, 1, instr(i.name, '.') - 1)
    WHERE s.image_id = images.id LIMIT 1),
  (SELECT t.name FROM tenants t WHERE t.name = substr(images.name, 1, instr(images.name, '.') - 1))
) WHERE kind IN ('snapshot', 'merged');
UPDATE images SET instance_id = (SELECT s.instance_id FROM snapshots s WHERE s.image_id = images.id LIMIT 1) WHERE kind = 'snapshot';

-- A data disk's backing as recorded when its COW was made (the COW header is never trusted).
ALTER TABLE data_disks ADD COLUMN backing_size INTEGER;
ALTER TABLE data_disks ADD COLUMN backing_mtime INTEGER;

-- A root disk being moved onto another backing (restore, merge): set before the rename, cleared after; finished at start.
ALTER TABLE disks ADD COLUMN pending_backing_path TEXT;
ALTER TABLE disks ADD COLUMN pending_backing_size INTEGER;
ALTER TABLE disks ADD COLUMN pending_backing_mtime INTEGER;
