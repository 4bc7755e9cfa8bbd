-- The account pages (connected apps, the user's second factor):
--   tokens.created_at (storage.Token.CreatedAt): when the token was
--     stored; NULL for every token stored before. ListGrants reads it to
--     tell when a client last obtained tokens for a user.
--   tokens_subject_idx: ListGrants and RevokeUserClientGrants find a
--     user's tokens by subject. Building it reads the tokens table once
--     and blocks writes to it meanwhile.
--   revoked_grants: the token families (request IDs) RevokeUserClientGrants
--     revoked, until expires_at (DeleteExpired removes them after): a token
--     inserted with such a request_id is stored inactive, so that a code
--     exchange or refresh under way when the grant was revoked cannot leave
--     active tokens behind.
--   mfa.totp_pending_secret (storage.MFARecord.TOTPPendingSecret): the
--     secret of a replacement factor waiting for its first code; NULL for
--     every record stored before.
-- {{prefix}} is replaced by the table prefix.

ALTER TABLE {{prefix}}tokens ADD COLUMN created_at timestamptz;
CREATE INDEX {{prefix}}tokens_subject_idx ON {{prefix}}tokens (subject, client_id) WHERE subject <> '';

CREATE TABLE {{prefix}}revoked_grants (
	request_id text COLLATE "C" PRIMARY KEY,
	expires_at timestamptz
);
CREATE INDEX {{prefix}}revoked_grants_expires_at_idx ON {{prefix}}revoked_grants (expires_at);

ALTER TABLE {{prefix}}mfa ADD COLUMN totp_pending_secret bytea;
