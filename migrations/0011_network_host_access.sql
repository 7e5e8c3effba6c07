-- User networks reach the host's own services only when an admin said so (hostAccess).
-- Existing user networks get no host access: their guests keep outgoing access and DNS.
ALTER TABLE networks ADD COLUMN host_access INTEGER NOT NULL DEFAULT 0;
