-- Port forwards on NATed host networks: a host port DNATed to a NIC's address. A forward goes with its NIC
-- (detached, or its instance deleted).
CREATE TABLE forwards (
  id              TEXT PRIMARY KEY,
  network_id      TEXT NOT NULL REFERENCES networks(id),
  nic_id          TEXT NOT NULL REFERENCES nics(id) ON DELETE CASCADE,
  protocol        TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),
  listen_address  TEXT,                     -- NULL: every address of the host
  listen_port     INTEGER NOT NULL CHECK (listen_port BETWEEN 1 AND 65535),
  target_port     INTEGER NOT NULL CHECK (target_port BETWEEN 1 AND 65535),
  created_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX forwards_port ON forwards (protocol, listen_port, COALESCE(listen_address, ''));
CREATE INDEX forwards_network ON forwards (network_id);

-- Routed host networks (mode "routed"): the subnet is routed to this host, guests keep their addresses,
-- forwarded both ways with no NAT.
ALTER TABLE networks ADD COLUMN routed INTEGER NOT NULL DEFAULT 0;

-- Host networks on a bridge the admin already has (mode "bridged"): host_if names that bridge, which
-- umld neither creates nor deletes.
ALTER TABLE networks ADD COLUMN bridged INTEGER NOT NULL DEFAULT 0;

-- DNS names (<instance>.<network>) served to a host network's guests by a dnsmasq of its own.
ALTER TABLE networks ADD COLUMN dns INTEGER NOT NULL DEFAULT 0;

-- The host ports a tenant's own forwards may listen on (NULL: none; admins are not limited).
ALTER TABLE tenants ADD COLUMN forward_port_first INTEGER;
ALTER TABLE tenants ADD COLUMN forward_port_last INTEGER;
