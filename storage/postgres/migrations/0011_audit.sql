-- The audit trail (storage.AuditStore): one row per event, never updated.
-- The primary key (at, id) is also the trail's order: newest first, events
-- of the same time by id (COLLATE "C": byte order), so keyset paging reads
-- the index backwards. The other indexes serve the admin API's filters by
-- client, subject and type, each in the same order. details holds the
-- event's details as a JSON object of strings (NULL for none).
-- {{prefix}} is replaced by the table prefix.

CREATE TABLE {{prefix}}audit_events (
	at timestamptz NOT NULL,
	id text COLLATE "C" NOT NULL,
	type text COLLATE "C" NOT NULL,
	actor_kind text COLLATE "C" NOT NULL,
	actor_id text COLLATE "C" NOT NULL,
	target text COLLATE "C" NOT NULL,
	client_id text COLLATE "C" NOT NULL,
	subject text COLLATE "C" NOT NULL,
	request_id text COLLATE "C" NOT NULL,
	client_addr text COLLATE "C" NOT NULL,
	details jsonb,
	PRIMARY KEY (at, id)
);
CREATE INDEX {{prefix}}audit_events_client_idx ON {{prefix}}audit_events (client_id, at, id);
CREATE INDEX {{prefix}}audit_events_subject_idx ON {{prefix}}audit_events (subject, at, id);
CREATE INDEX {{prefix}}audit_events_type_idx ON {{prefix}}audit_events (type, at, id);
