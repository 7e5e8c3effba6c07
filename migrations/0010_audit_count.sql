-- A flood of refused requests (bad tokens, rate limits) is audited as one row with a count.
ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
