-- Throttles: failure counts per key (for example password attempts per
-- username), shared by every replica. {{prefix}} is replaced by the table
-- prefix. As in 0001, the key is COLLATE "C" and a zero time.Time is NULL.

CREATE TABLE {{prefix}}throttles (
	key text COLLATE "C" PRIMARY KEY,
	failures bigint NOT NULL DEFAULT 0,
	locked_until timestamptz,
	expires_at timestamptz
);
CREATE INDEX {{prefix}}throttles_expires_at_idx ON {{prefix}}throttles (expires_at);
