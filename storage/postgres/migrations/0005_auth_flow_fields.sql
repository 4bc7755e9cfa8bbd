-- Authorization flows gain typed columns for what the provider used to keep
-- under keys of data: requested_at (storage.AuthFlow.RequestedAt, was
-- "rat"), client_ip (ClientIP, was "ip"), browser (Browser, was "browser"),
-- tenant (Tenant, was "tenant") and user_json (User, was "user"). Flows
-- stored before read back with these empty and their values still in data;
-- the provider falls back to data for them, and they expire within the flow
-- lifetime. Plain ADD COLUMNs: NULL or a constant default, so existing rows
-- are not rewritten. {{prefix}} is replaced by the table prefix.

ALTER TABLE {{prefix}}auth_flows
	ADD COLUMN requested_at timestamptz,
	ADD COLUMN client_ip text NOT NULL DEFAULT '',
	ADD COLUMN browser text NOT NULL DEFAULT '',
	ADD COLUMN tenant text NOT NULL DEFAULT '',
	ADD COLUMN user_json bytea;
