-- Instances, networks and data disks get an explicit owner: a tenant (by name), or NULL for the admin.
-- Until now the owner was the `<tenant>.` prefix of the stored name; existing rows keep that owner
-- when such a tenant exists (an admin's name never holds a dot, so the rest are the admin's).
ALTER TABLE instances ADD COLUMN owner TEXT;
ALTER TABLE networks ADD COLUMN owner TEXT;
ALTER TABLE data_disks ADD COLUMN owner TEXT;

UPDATE instances SET owner = (SELECT t.name FROM tenants t WHERE t.name = substr(instances.name, 1, instr(instances.name, '.') - 1))
  WHERE instr(name, '.') > 0;
UPDATE networks SET owner = (SELECT t.name FROM tenants t WHERE t.name = substr(networks.name, 1, instr(networks.name, '.') - 1))
  WHERE instr(name, '.') > 0;
UPDATE data_disks SET owner = (SELECT t.name FROM tenants t WHERE t.name = substr(data_disks.name, 1, instr(data_disks.name, '.') - 1))
  WHERE instr(name, '.') > 0;

CREATE INDEX instances_owner ON instances (owner);
CREATE INDEX networks_owner ON networks (owner);
CREATE INDEX data_disks_owner ON data_disks (owner);
CREATE INDEX images_owner ON images (owner);
