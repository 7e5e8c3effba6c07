-- The event journal: every event the bus publishes, so a client that reconnects replays what it missed.
-- AUTOINCREMENT: a seq is never reused, even after the oldest rows are pruned or the daemon restarts.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  type TEXT NOT NULL,
  -- the instance or operation target it is about (stored name): a tenant's replay is filtered on it
  subject TEXT,
  body TEXT NOT NULL
);
