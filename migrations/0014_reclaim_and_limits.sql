-- Consolidation: memory given back by umld on its own, and CPU, I/O and process limits per guest
-- and a CPU cap per tenant, all applied through cgroups (core/jail/cgroups.ts).
ALTER TABLE instances ADD COLUMN memory_reclaim TEXT NOT NULL DEFAULT 'off' CHECK (memory_reclaim IN ('off', 'auto'));
-- limits.* (NULL: not limited; weights: the cgroup's default)
ALTER TABLE instances ADD COLUMN cpus REAL;
ALTER TABLE instances ADD COLUMN cpu_weight INTEGER;
ALTER TABLE instances ADD COLUMN io_weight INTEGER;
ALTER TABLE instances ADD COLUMN pids_max INTEGER;
-- CPU seconds of the guest's boots that ended (the running boot's come from its cgroup)
ALTER TABLE instances ADD COLUMN cpu_seconds REAL NOT NULL DEFAULT 0;
-- the cap of the tenant's common cgroup, in cores (NULL: none)
ALTER TABLE tenants ADD COLUMN max_cpus REAL;
