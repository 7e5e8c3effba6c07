-- Switch networks are kernel bridges now, no longer a uml_switch process each: every switch network
-- has a bridge and every NIC on one a TAP, named from their ids like a host network's.
UPDATE networks SET host_if = 'umlbr-' || substr(id, 1, 8) WHERE kind = 'switch' AND host_if IS NULL;
UPDATE nics SET host_if = 'umlt-' || substr(id, 1, 10)
  WHERE host_if IS NULL AND network_id IN (SELECT id FROM networks WHERE kind = 'switch');

-- limits.netMbit: every NIC of the instance with a host interface is shaped to this many Mbit/s in
-- each direction; NULL: unlimited. (Later limits join it as columns of their own.)
ALTER TABLE instances ADD COLUMN net_mbit INTEGER;
