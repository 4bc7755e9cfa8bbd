package postgres_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// TestMigrationAddsLoginGrants upgrades a database that lacks the migration
// adding login_sessions.sid, tokens.login_sid (with its partial index),
// clients.refresh_bound_to_login and the ended_logins table, and holds a
// session, a token and a client written before it: New refuses it until Migrate has run; the records then
// read back unchanged with the new fields empty (a session without a SID,
// a token of no sign-in, a client not bound to the sign-in), revoking the
// grants of "" leaves the old token alone, and the new columns keep what is
// written. The migration is found by name, so the test holds whatever its
// number.
func TestMigrationAddsLoginGrants(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, prefix, s := migratedStore(t)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	oldSession := storage.LoginSession{ID: "ls", Subject: "alice", AMR: []string{"pwd"}, ExpiresAt: expires}
	oldToken := storage.Token{Kind: storage.KindRefreshToken, Signature: "rt", Active: true, ExpiresAt: expires,
		Request: storage.Request{ID: "fam", ClientID: "web", Subject: "alice", Session: []byte(`{"sub":"alice"}`)}}
	oldClient := storage.Client{ID: "web", Scopes: []string{"openid"}}
	require.NoError(t, s.CreateLoginSession(ctx, oldSession))
	require.NoError(t, s.CreateToken(ctx, oldToken))
	require.NoError(t, s.CreateClient(ctx, oldClient))

	version := undoMigration(t, pool, prefix, "login_grants", `
		ALTER TABLE `+prefix+`login_sessions DROP COLUMN sid;
		ALTER TABLE `+prefix+`tokens DROP COLUMN login_sid;
		ALTER TABLE `+prefix+`clients DROP COLUMN refresh_bound_to_login;
		DROP TABLE `+prefix+`ended_logins`)
	var indexes int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE indexname = $1`, prefix+"tokens_login_sid_idx").Scan(&indexes))
	require.Zero(t, indexes, "dropping the column dropped its index")
	s = reopenMigrated(t, pool, prefix, version)
	var def string
	require.NoError(t, pool.QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE indexname = $1`, prefix+"tokens_login_sid_idx").Scan(&def))
	assert.Contains(t, def, "(login_sid)", "the index is on login_sid")
	assert.Contains(t, def, "WHERE (login_sid <> ''::text)", "and leaves the tokens of no sign-in out")

	gotSession, err := s.GetLoginSession(ctx, "ls")
	require.NoError(t, err)
	assert.Equal(t, oldSession, gotSession, "the session is kept, with no SID")
	sessions, err := s.LoginSessionsBySubject(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []storage.LoginSession{oldSession}, sessions)
	gotToken, err := s.GetToken(ctx, storage.KindRefreshToken, "rt")
	require.NoError(t, err)
	assert.Equal(t, oldToken, gotToken, "the token is kept, of no sign-in")
	gotClient, err := s.GetClient(ctx, "web")
	require.NoError(t, err)
	assert.Equal(t, oldClient, gotClient, "the client is kept, not bound to the sign-in")

	require.NoError(t, s.RevokeLoginGrants(ctx, "", expires))
	gotToken, err = s.GetToken(ctx, storage.KindRefreshToken, "rt")
	require.NoError(t, err)
	assert.True(t, gotToken.Active, "revoking the grants of \"\" leaves a token stored before the migration active")

	// The new columns keep what is written.
	require.NoError(t, s.CreateLoginSession(ctx, storage.LoginSession{ID: "ls2", SID: "sid-1", Subject: "alice", ExpiresAt: expires}))
	newToken := oldToken
	newToken.Signature, newToken.Request.LoginSID = "rt2", "sid-1"
	require.NoError(t, s.CreateToken(ctx, newToken))
	require.NoError(t, s.UpdateClient(ctx, "web", func(c storage.Client) (storage.Client, error) {
		c.RefreshBoundToLogin = true
		return c, nil
	}))
	sessions, err = s.LoginSessionsBySubject(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []storage.LoginSession{oldSession, {ID: "ls2", SID: "sid-1", Subject: "alice", ExpiresAt: expires}}, sessions)
	require.NoError(t, s.RevokeLoginGrants(ctx, "sid-1", expires))
	gotToken, err = s.GetToken(ctx, storage.KindRefreshToken, "rt2")
	require.NoError(t, err)
	newToken.Active = false
	assert.Equal(t, newToken, gotToken, "the token of sign-in sid-1 is revoked")
	later := newToken
	later.Signature, later.Active = "rt3", true
	require.NoError(t, s.CreateToken(ctx, later))
	gotToken, err = s.GetToken(ctx, storage.KindRefreshToken, "rt3")
	require.NoError(t, err)
	assert.False(t, gotToken.Active, "ended_logins holds the ended sign-in: a token of it created afterwards is inactive")
	gotToken, err = s.GetToken(ctx, storage.KindRefreshToken, "rt")
	require.NoError(t, err)
	assert.True(t, gotToken.Active, "and the old one is not")
	gotClient, err = s.GetClient(ctx, "web")
	require.NoError(t, err)
	assert.True(t, gotClient.RefreshBoundToLogin)
}
