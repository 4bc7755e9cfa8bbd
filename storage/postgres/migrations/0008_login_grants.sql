-- Grants remember the browser sign-in they were made in, so that ending the
-- sign-in (logout) can end them (the ended_logins table, below, records the
-- sign-ins ended):
--   login_sessions.sid (storage.LoginSession.SID): the sign-in's stable ID,
--     kept when the session record is replaced (second factor, the same
--     user signing in again). '' for sessions stored before, which the
--     provider reads as sid = id.
--   tokens.login_sid (storage.Request.LoginSID): the sid of the sign-in a
--     token's grant was made in; '' for grants not made through a browser
--     sign-in and for every token stored before. RevokeLoginGrants finds the
--     tokens by it through a partial index that leaves the '' rows out.
--   clients.refresh_bound_to_login (storage.Client.RefreshBoundToLogin):
--     false for every client made before.
-- ADD COLUMN with a constant default does not rewrite the tables. Building
-- the index reads the tokens table once and blocks writes to it meanwhile;
-- every existing row has login_sid = '', so the index starts empty.
-- {{prefix}} is replaced by the table prefix.

ALTER TABLE {{prefix}}login_sessions ADD COLUMN sid text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE {{prefix}}tokens ADD COLUMN login_sid text COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX {{prefix}}tokens_login_sid_idx ON {{prefix}}tokens (login_sid) WHERE login_sid <> '';
ALTER TABLE {{prefix}}clients ADD COLUMN refresh_bound_to_login boolean NOT NULL DEFAULT false;

-- ended_logins records the sign-ins RevokeLoginGrants ended, until
-- expires_at (DeleteExpired removes them after): a token inserted with
-- such a login_sid is stored inactive, so that a code exchange or refresh
-- under way when the sign-in ended cannot leave active tokens behind.
CREATE TABLE {{prefix}}ended_logins (
	sid text COLLATE "C" PRIMARY KEY,
	expires_at timestamptz
);
CREATE INDEX {{prefix}}ended_logins_expires_at_idx ON {{prefix}}ended_logins (expires_at);
