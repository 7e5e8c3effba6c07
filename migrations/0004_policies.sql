-- Guests outlive the daemon: autostart, restart policies, crash-loop flags, hang detection.
ALTER TABLE instances ADD COLUMN autostart INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN autostart_order INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN autostart_delay_s REAL NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN restart_policy TEXT NOT NULL DEFAULT 'never' CHECK (restart_policy IN ('never', 'on-failure', 'always'));
ALTER TABLE instances ADD COLUMN crash_streak INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN flag TEXT;                      -- e.g. 'crash-loop: ...': restarts stopped until an admin starts it
ALTER TABLE instances ADD COLUMN hang_timeout_s INTEGER NOT NULL DEFAULT 30;
ALTER TABLE instances ADD COLUMN on_hang TEXT NOT NULL DEFAULT 'report' CHECK (on_hang IN ('report', 'reset'));
ALTER TABLE instances ADD COLUMN stopped_by_host INTEGER NOT NULL DEFAULT 0;   -- shut down by umld --shutdown-guests: back at next start
