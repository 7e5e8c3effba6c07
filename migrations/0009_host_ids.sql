-- Host ids for jailed processes (docs/security.md): every instance's UML runs as its own uid (gid = uid),
-- every tenant has a gid that its images and read-only disks are shared through, every switch network's
-- uml_switch runs as its own uid. All from the daemon's configured range; never shared between owners.
ALTER TABLE instances ADD COLUMN host_uid INTEGER;
CREATE UNIQUE INDEX instances_host_uid ON instances (host_uid);
ALTER TABLE tenants ADD COLUMN host_gid INTEGER;
CREATE UNIQUE INDEX tenants_host_gid ON tenants (host_gid);
ALTER TABLE networks ADD COLUMN host_uid INTEGER;
CREATE UNIQUE INDEX networks_host_uid ON networks (host_uid);
