-- The deny list of stateless access tokens (storage.DenyListStore): one row
-- per (kind, key); issued_before NULL denies every token with the key,
-- else the tokens issued before it. expires_at is when the row may be
-- deleted (DeleteExpired).
-- {{prefix}} is replaced by the table prefix.

CREATE TABLE {{prefix}}deny_list (
	kind text COLLATE "C" NOT NULL,
	key text COLLATE "C" NOT NULL,
	issued_before timestamptz,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (kind, key)
);
CREATE INDEX {{prefix}}deny_list_expires_idx ON {{prefix}}deny_list (expires_at);
