-- API keys and application users (storage.APIKeyStore and
-- storage.ApplicationUserStore), and the two client fields that use them.
-- {{prefix}} is replaced by the table prefix. As in 0001, keys are
-- COLLATE "C", a zero time.Time is NULL and durations are bigint
-- nanoseconds.
--
-- application_users: one row per service principal.
-- api_keys: one row per key; hash is the keyed hash of the key's secret,
--   never the key. application_user is the owner for a key of an
--   application user (NULL for a user's key): its foreign key makes the
--   creation of a key for a missing application user fail, and the
--   deletion of an application user delete its keys in the same statement.
--   api_keys_owner_idx serves the listing by owner (FindAPIKeys).
-- clients.accepts_api_keys, clients.application_user: false and '' for
--   every client made before. ADD COLUMN with a constant default does not
--   rewrite the table.

CREATE TABLE {{prefix}}application_users (
	id text COLLATE "C" PRIMARY KEY,
	name text NOT NULL DEFAULT '',
	description text NOT NULL DEFAULT '',
	tenant text NOT NULL DEFAULT '',
	roles text[],
	permissions text[],
	access_token_lifetime bigint NOT NULL DEFAULT 0,
	created_at timestamptz,
	updated_at timestamptz
);

CREATE TABLE {{prefix}}api_keys (
	id text COLLATE "C" PRIMARY KEY,
	name text NOT NULL DEFAULT '',
	owner_type text NOT NULL DEFAULT '',
	owner text COLLATE "C" NOT NULL DEFAULT '',
	application_user text COLLATE "C" REFERENCES {{prefix}}application_users (id) ON DELETE CASCADE,
	tenant text NOT NULL DEFAULT '',
	hash text NOT NULL DEFAULT '',
	permission_scope text[],
	ip_ranges text[],
	forwarded_for_ranges text[],
	expires_at timestamptz,
	created_at timestamptz,
	rotated_at timestamptz,
	last_used_at timestamptz
);
CREATE INDEX {{prefix}}api_keys_owner_idx ON {{prefix}}api_keys (owner, id);
CREATE INDEX {{prefix}}api_keys_application_user_idx ON {{prefix}}api_keys (application_user) WHERE application_user IS NOT NULL;

ALTER TABLE {{prefix}}clients
	ADD COLUMN accepts_api_keys boolean NOT NULL DEFAULT false,
	ADD COLUMN application_user text NOT NULL DEFAULT '';
