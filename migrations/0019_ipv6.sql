-- An optional IPv6 /64 per host network: the host has its first address on the bridge, dnsmasq sends router
-- advertisements, guests address themselves from their MAC (SLAAC, EUI-64). NULL: IPv4 only.
ALTER TABLE networks ADD COLUMN ipv6 TEXT;
