-- The initial schema. {{prefix}} is replaced by the table prefix (default
-- "gatehouse_"). Every key column is COLLATE "C", so that lists ordered by
-- ID come out in byte order whatever the database's collation is.
-- A zero time.Time is stored as NULL; durations are bigint nanoseconds.

CREATE TABLE {{prefix}}clients (
	id text COLLATE "C" PRIMARY KEY,
	name text NOT NULL DEFAULT '',
	secret_hashes text[],
	secret_created_at timestamptz[],
	secret_expires_at timestamptz[],
	public boolean NOT NULL DEFAULT false,
	redirect_uris text[],
	post_logout_redirect_uris text[],
	grant_types text[],
	response_types text[],
	scopes text[],
	audience text[],
	token_endpoint_auth_method text NOT NULL DEFAULT '',
	token_endpoint_auth_signing_alg text NOT NULL DEFAULT '',
	jwks bytea,
	require_pkce boolean NOT NULL DEFAULT false,
	access_token_format text NOT NULL DEFAULT '',
	required_role text NOT NULL DEFAULT '',
	customer text NOT NULL DEFAULT '',
	permission_scope text[],
	ip_ranges text[],
	require_mfa boolean NOT NULL DEFAULT false,
	access_token_lifetime bigint NOT NULL DEFAULT 0,
	refresh_token_lifetime bigint NOT NULL DEFAULT 0,
	auth_code_lifetime bigint NOT NULL DEFAULT 0,
	id_token_lifetime bigint NOT NULL DEFAULT 0,
	created_at timestamptz,
	updated_at timestamptz
);

CREATE TABLE {{prefix}}tokens (
	kind text COLLATE "C" NOT NULL,
	signature text COLLATE "C" NOT NULL,
	request_id text COLLATE "C" NOT NULL DEFAULT '',
	requested_at timestamptz,
	client_id text NOT NULL DEFAULT '',
	subject text NOT NULL DEFAULT '',
	requested_scopes text[],
	granted_scopes text[],
	requested_audience text[],
	granted_audience text[],
	form text,
	session bytea,
	access_signature text NOT NULL DEFAULT '',
	expires_at timestamptz,
	active boolean NOT NULL DEFAULT false,
	PRIMARY KEY (kind, signature)
);
CREATE INDEX {{prefix}}tokens_request_id_idx ON {{prefix}}tokens (request_id, kind);
CREATE INDEX {{prefix}}tokens_expires_at_idx ON {{prefix}}tokens (expires_at);

CREATE TABLE {{prefix}}jtis (
	jti text COLLATE "C" PRIMARY KEY,
	expires_at timestamptz
);
CREATE INDEX {{prefix}}jtis_expires_at_idx ON {{prefix}}jtis (expires_at);

CREATE TABLE {{prefix}}consents (
	subject text COLLATE "C" NOT NULL,
	client_id text COLLATE "C" NOT NULL,
	scopes text[],
	granted_at timestamptz,
	expires_at timestamptz,
	PRIMARY KEY (subject, client_id)
);
CREATE INDEX {{prefix}}consents_expires_at_idx ON {{prefix}}consents (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE {{prefix}}login_sessions (
	id text COLLATE "C" PRIMARY KEY,
	subject text COLLATE "C" NOT NULL DEFAULT '',
	auth_time timestamptz,
	amr text[],
	claims bytea,
	expires_at timestamptz
);
CREATE INDEX {{prefix}}login_sessions_subject_idx ON {{prefix}}login_sessions (subject);
CREATE INDEX {{prefix}}login_sessions_expires_at_idx ON {{prefix}}login_sessions (expires_at);

CREATE TABLE {{prefix}}auth_flows (
	id text COLLATE "C" PRIMARY KEY,
	query text NOT NULL DEFAULT '',
	client_id text NOT NULL DEFAULT '',
	subject text NOT NULL DEFAULT '',
	auth_time timestamptz,
	amr text[],
	done text[],
	data text,
	csrf text NOT NULL DEFAULT '',
	expires_at timestamptz
);
CREATE INDEX {{prefix}}auth_flows_expires_at_idx ON {{prefix}}auth_flows (expires_at);

CREATE TABLE {{prefix}}signing_keys (
	id text COLLATE "C" PRIMARY KEY,
	algorithm text NOT NULL DEFAULT '',
	private_key bytea,
	created_at timestamptz,
	active_at timestamptz,
	retired_at timestamptz,
	expires_at timestamptz
);

CREATE TABLE {{prefix}}mfa (
	subject text COLLATE "C" PRIMARY KEY,
	totp_secret bytea,
	totp_confirmed boolean NOT NULL DEFAULT false,
	totp_last_counter bigint NOT NULL DEFAULT 0,
	recovery_codes text[],
	failures bigint NOT NULL DEFAULT 0,
	locked_until timestamptz,
	created_at timestamptz,
	updated_at timestamptz
);
