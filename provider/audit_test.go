package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// logBuffer collects a provider's JSON log, for tests that read it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// withLog makes the provider log JSON, every level, into buf.
func withLog(buf *logBuffer) func(*provider.Config) {
	return func(c *provider.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// newAuditEnv is newEnvOn with the provider's log captured.
func newAuditEnv(t *testing.T, store storage.Store, mutate ...func(*provider.Config)) (*env, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	return newEnvOn(t, store, append([]func(*provider.Config){withLog(logs)}, mutate...)...), logs
}

// events returns the stored events of typ (all types if ""), newest first.
func (e *env) events(typ string) []storage.AuditEvent {
	e.t.Helper()
	q := storage.AuditQuery{}
	if typ != "" {
		q.Types = []string{typ}
	}
	evs, err := e.p.AuditEvents(context.Background(), q)
	require.NoError(e.t, err)
	return evs
}

// event returns the one stored event of typ for client (any client if ""),
// failing the test unless there is exactly one.
func (e *env) event(typ, client string) storage.AuditEvent {
	e.t.Helper()
	var found []storage.AuditEvent
	for _, ev := range e.events(typ) {
		if client == "" || ev.ClientID == client {
			found = append(found, ev)
		}
	}
	require.Len(e.t, found, 1, "the %s events of client %q: %+v", typ, client, found)
	return found[0]
}

// assertNoSecrets asserts that no secret appears anywhere in the stored
// events (as JSON) or in the provider's log: neither the whole string nor,
// for a token of the form prefix.signature, its signature. Short numeric
// secrets (one-time codes) are looked for as numbers not inside a longer
// one, so that the digits of a nanosecond timestamp do not count.
func (e *env) assertNoSecrets(logs *logBuffer, secrets ...string) {
	t := e.t
	t.Helper()
	all, err := json.Marshal(e.events(""))
	require.NoError(t, err)
	haystacks := map[string]string{"stored events": string(all), "log": logs.String()}
	for _, s := range secrets {
		require.GreaterOrEqual(t, len(s), 6, "assertNoSecrets: %q is too short to look for", s)
		needles := []string{s}
		if i := strings.LastIndexByte(s, '.'); i >= 0 && len(s)-i > 16 {
			needles = append(needles, s[i+1:])
		}
		for where, h := range haystacks {
			for _, n := range needles {
				if regexp.MustCompile(`^[0-9]+$`).MatchString(n) {
					assert.NotRegexp(t, `(^|[^0-9])`+n+`([^0-9]|$)`, h, "the one-time code %s appears in the %s", n, where)
					continue
				}
				assert.NotContains(t, h, n, "a secret appears in the %s", where)
			}
		}
	}
}

// requestIDOf returns the X-Request-Id of an answer, which must have one.
func requestIDOf(t *testing.T, h http.Header) string {
	t.Helper()
	ids := h.Values("X-Request-Id")
	require.Len(t, ids, 1, "every answer has one X-Request-Id")
	return ids[0]
}

// authCode runs the browser part of a code flow for client c as user and
// returns the code, its PKCE verifier and the client's config.
func (e *env) authCode(c storage.Client, secret, redirect, user string, scopes ...string) (string, string, *oauth2.Config) {
	e.t.Helper()
	cfg := e.oauth2Config(c, secret, redirect, scopes...)
	verifier := oauth2.GenerateVerifier()
	back := e.authorize(flowtest.NewBrowser(e.t), cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)), user)
	code := back.Query().Get("code")
	require.NotEmpty(e.t, code, "no code in %s", back)
	return code, verifier, cfg
}

// exchange posts a code exchange and returns the status, body and headers.
func (e *env) exchange(c storage.Client, secret, code, verifier string) (int, map[string]any, http.Header) {
	e.t.Helper()
	return e.postForm("/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier},
	}, c.ID, secret)
}

// Every token a client gets, by any grant, and every token it refreshes
// and revokes, is recorded with its grant, client, user, scopes, request
// ID and address, and no event or log line holds a token, code, verifier
// or secret.
func TestAuditTokenLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, logs := newAuditEnv(t, store)

		status, body, hdr := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, status, "%v", body)
		cc := e.event(provider.AuditTokenIssued, e.svc.ID)
		assert.Equal(t, storage.AuditActor{Kind: storage.ActorClient, ID: e.svc.ID}, cc.Actor)
		assert.Equal(t, "", cc.Subject)
		assert.Equal(t, "client_credentials", cc.Detail("grant"))
		assert.Equal(t, "assets:read", cc.Detail("scopes"))
		assert.Equal(t, "grant:"+cc.Detail("grant_id"), cc.Target)
		assert.Equal(t, requestIDOf(t, hdr), cc.RequestID, "the event names the request it answered")
		assert.Equal(t, "127.0.0.1", cc.ClientAddr)
		assert.WithinDuration(t, time.Now(), cc.Time, time.Minute)

		code, verifier, cfg := e.authCode(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")
		signin := e.event(provider.AuditSignInSucceeded, e.web.ID)
		assert.Equal(t, storage.AuditActor{Kind: storage.ActorUser, ID: "sub-alice"}, signin.Actor)
		assert.Equal(t, "username:alice", signin.Target)
		consent := e.event(provider.AuditConsentGranted, e.web.ID)
		assert.Equal(t, "sub-alice", consent.Subject)
		assert.Equal(t, "openid offline_access assets:read", consent.Detail("scopes"))

		tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
		require.NoError(t, err)
		issued := e.event(provider.AuditTokenIssued, e.web.ID)
		assert.Equal(t, "authorization_code", issued.Detail("grant"))
		assert.Equal(t, "sub-alice", issued.Subject)
		assert.Equal(t, "openid offline_access assets:read", issued.Detail("scopes"))

		refreshed, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		require.NoError(t, err)
		ref := e.event(provider.AuditTokenRefreshed, e.web.ID)
		assert.Equal(t, issued.Detail("grant_id"), ref.Detail("grant_id"), "a refresh continues the grant")
		assert.Equal(t, "refresh_token", ref.Detail("grant"))
		assert.Equal(t, "sub-alice", ref.Subject)

		status, _, hdr = e.postForm("/oauth2/revoke", url.Values{"token": {refreshed.RefreshToken}}, e.web.ID, e.webSecret)
		require.Equal(t, http.StatusOK, status)
		revoked := e.event(provider.AuditTokenRevoked, e.web.ID)
		assert.Equal(t, issued.Detail("grant_id"), revoked.Detail("grant_id"))
		assert.Equal(t, "sub-alice", revoked.Subject)
		assert.Equal(t, requestIDOf(t, hdr), revoked.RequestID)

		// Revoking another client's token, or a token that does not
		// exist, revokes nothing and records nothing.
		e.postForm("/oauth2/revoke", url.Values{"token": {tok.AccessToken}}, e.svc.ID, e.svcSecret)
		e.postForm("/oauth2/revoke", url.Values{"token": {"ory_at_unknown.unknown"}}, e.web.ID, e.webSecret)
		assert.Len(t, e.events(provider.AuditTokenRevoked), 1)

		idToken, _ := tok.Extra("id_token").(string)
		e.assertNoSecrets(logs, e.svcSecret, e.webSecret, testUsers["alice"].password, code, verifier, body["access_token"].(string),
			tok.AccessToken, tok.RefreshToken, idToken, refreshed.AccessToken, refreshed.RefreshToken)
	})
}

// A code presented again (RFC 6749 §4.1.2: its tokens are revoked) is
// recorded as code.replayed, naming the grant whose tokens were revoked.
func TestAuditCodeReplayed(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, logs := newAuditEnv(t, store)
		code, verifier, _ := e.authCode(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access")
		status, first, _ := e.exchange(e.web, e.webSecret, code, verifier)
		require.Equal(t, http.StatusOK, status)
		status, body, hdr := e.exchange(e.web, e.webSecret, code, verifier)
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "invalid_grant", body["error"])

		replay := e.event(provider.AuditCodeReplayed, e.web.ID)
		issued := e.event(provider.AuditTokenIssued, e.web.ID)
		assert.Equal(t, issued.Detail("grant_id"), replay.Detail("grant_id"), "the grant whose tokens were revoked")
		assert.Equal(t, "grant", replay.Detail("revoked"))
		assert.Equal(t, "sub-alice", replay.Subject)
		assert.Equal(t, storage.AuditActor{Kind: storage.ActorClient, ID: e.web.ID}, replay.Actor)
		assert.Equal(t, requestIDOf(t, hdr), replay.RequestID)
		assert.Equal(t, false, e.introspect(first["access_token"].(string))["active"], "the first exchange's token was revoked")
		e.assertNoSecrets(logs, code, verifier, e.webSecret, first["access_token"].(string), first["refresh_token"].(string))
	})
}

// A rotated refresh token presented again (RFC 9700 §4.14.2) is recorded as
// refresh.reuse_detected; a revoked one that was never rotated is not.
func TestAuditRefreshReuseDetected(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, logs := newAuditEnv(t, store)
		tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access")
		refresh := func(rt string) (int, map[string]any) {
			status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, e.web.ID, e.webSecret)
			return status, body
		}
		status, next := refresh(tok.RefreshToken)
		require.Equal(t, http.StatusOK, status)
		assert.Empty(t, e.events(provider.AuditRefreshReuseDetected))
		status, body := refresh(tok.RefreshToken)
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "invalid_grant", body["error"])

		reuse := e.event(provider.AuditRefreshReuseDetected, e.web.ID)
		assert.Equal(t, e.event(provider.AuditTokenIssued, e.web.ID).Detail("grant_id"), reuse.Detail("grant_id"))
		assert.Equal(t, "sub-alice", reuse.Subject)
		assert.Equal(t, storage.AuditActor{Kind: storage.ActorClient, ID: e.web.ID}, reuse.Actor)
		e.assertNoSecrets(logs, tok.AccessToken, tok.RefreshToken, next["access_token"].(string), next["refresh_token"].(string), e.webSecret)

		// A refresh token revoked at the revocation endpoint, never
		// rotated, is refused without a reuse event.
		other := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access")
		status, _, _ = e.postForm("/oauth2/revoke", url.Values{"token": {other.RefreshToken}}, e.web.ID, e.webSecret)
		require.Equal(t, http.StatusOK, status)
		status, _ = refresh(other.RefreshToken)
		require.Equal(t, http.StatusBadRequest, status)
		assert.Len(t, e.events(provider.AuditRefreshReuseDetected), 1)
	})
}

// Each way a client fails to authenticate is recorded with its reason; an
// expired secret as client.secret_expired. The presented secrets never
// appear, and a hostile client_id is stored cleaned and cut short (so that
// it cannot make an event large).
func TestAuditClientAuthFailed(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, logs := newAuditEnv(t, store, func(c *provider.Config) { c.ClientAuthLockout.MaxFailures = 3 })
		ctx := context.Background()
		cc := url.Values{"grant_type": {"client_credentials"}}

		wrong := []string{"wrong-secret-one-0123", "wrong-secret-two-0123", "wrong-secret-three-0123", "wrong-secret-four-0123"}
		for i, s := range wrong {
			status, body, _ := e.postForm("/oauth2/token", cc, e.svc.ID, s)
			require.Equal(t, http.StatusUnauthorized, status, "%d: %v", i, body)
		}
		failed := e.events(provider.AuditClientAuthFailed)
		require.Len(t, failed, 4)
		reasons := []string{}
		for _, ev := range failed {
			assert.Equal(t, e.svc.ID, ev.ClientID)
			assert.Equal(t, storage.AuditActor{Kind: storage.ActorClient, ID: e.svc.ID}, ev.Actor)
			reasons = append(reasons, ev.Detail("reason"))
		}
		assert.Equal(t, []string{"locked", "invalid_secret", "invalid_secret", "invalid_secret"}, reasons, "newest first: the fourth try finds the pair locked")

		status, _, _ := e.postForm("/oauth2/introspect", url.Values{"token": {"x"}}, "nobody", "nobody-secret-0123")
		require.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "unknown_client", e.event(provider.AuditClientAuthFailed, "nobody").Detail("reason"))

		hostile := "evil\x01\u202e" + strings.Repeat("é", 400)
		status, _, _ = e.postForm("/oauth2/revoke", url.Values{"token": {"x"}}, hostile, "hostile-secret-0123")
		require.Equal(t, http.StatusUnauthorized, status)
		var got *storage.AuditEvent
		for _, ev := range e.events(provider.AuditClientAuthFailed) {
			if strings.HasPrefix(ev.ClientID, "evil") {
				got = &ev
			}
		}
		require.NotNil(t, got, "the event of the hostile client_id is stored")
		assert.True(t, utf8.ValidString(got.ClientID), "cut at a character: %q", got.ClientID)
		assert.LessOrEqual(t, len(got.ClientID), 256, "cut short")
		assert.Equal(t, "unknown_client", got.Detail("reason"))

		// A secret presented after it expired.
		exp, plain, err := e.p.CreateClient(ctx, storage.Client{ID: "expiring", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}},
			provider.SecretExpiresAt(time.Now().Add(time.Hour)))
		require.NoError(t, err)
		e.clock.Advance(2 * time.Hour)
		status, body, _ := e.postForm("/oauth2/token", cc, exp.ID, plain)
		require.Equal(t, http.StatusUnauthorized, status, "%v", body)
		expired := e.event(provider.AuditClientSecretExpired, exp.ID)
		assert.NotEmpty(t, expired.Detail("expired_at"))
		for _, ev := range e.events(provider.AuditClientAuthFailed) {
			assert.NotEqual(t, exp.ID, ev.ClientID, "an expired secret is not also client.auth_failed")
		}

		e.assertNoSecrets(logs, append(wrong, "nobody-secret-0123", "hostile-secret-0123", plain, e.svcSecret)...)
	})
}

// Wrong passwords at the login page are recorded one by one, the failure
// that locks the username as signin.locked too, and a try while locked as
// signin.failed for the lock; no password, right or wrong, is recorded.
func TestAuditSignInLockout(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, logs := newAuditEnv(t, store)
		b := flowtest.NewBrowser(t)
		page := e.signInPage(t, b)
		var wrong []string
		for i := range 5 {
			pw := fmt.Sprintf("wrong-password-%d-xyz", i)
			wrong = append(wrong, pw)
			flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {pw}})
		}
		requireLocked(t, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {testUsers["alice"].password}}))

		failed := e.events(provider.AuditSignInFailed)
		require.Len(t, failed, 6)
		assert.Equal(t, "locked", failed[0].Detail("reason"), "the try while locked")
		assert.NotEmpty(t, failed[0].Detail("locked_until"))
		for _, ev := range failed[1:] {
			assert.Equal(t, "invalid_credentials", ev.Detail("reason"))
			assert.Equal(t, "username:alice", ev.Target)
			assert.Equal(t, e.web.ID, ev.ClientID)
			assert.Equal(t, storage.ActorUser, ev.Actor.Kind)
			assert.Equal(t, "", ev.Subject, "a failed sign-in proves no user")
		}
		assert.NotEmpty(t, failed[1].Detail("locked_until"), "the fifth failure locked the username")
		assert.Empty(t, failed[2].Detail("locked_until"))
		locked := e.event(provider.AuditSignInLocked, e.web.ID)
		assert.Equal(t, failed[1].Detail("locked_until"), locked.Detail("locked_until"))
		assert.Empty(t, e.events(provider.AuditSignInSucceeded))

		// A username that PostgreSQL could not store as text (NUL, bytes
		// that are not UTF-8) is stored cleaned, and so is every event
		// written in the same batch (a run of bad bytes becomes one U+FFFD).
		b2 := flowtest.NewBrowser(t)
		flowtest.Submit(t, b2, e.signInPage(t, b2), url.Values{"username": {"mallory\x00\xff\xfe"}, "password": {"mallory-password-x"}})
		var mallory []storage.AuditEvent
		for _, ev := range e.events(provider.AuditSignInFailed) {
			if strings.HasPrefix(ev.Target, "username:mallory") {
				mallory = append(mallory, ev)
			}
		}
		require.Len(t, mallory, 1, "the event is stored")
		assert.Equal(t, "username:mallory\ufffd\ufffd", mallory[0].Target)
		assert.Zero(t, e.p.AuditStats().Unwritten, "no event was lost")
		e.assertNoSecrets(logs, append(wrong, testUsers["alice"].password, "mallory-password-x")...)
	})
}

// A second factor passed, wrong codes, the failure that locks and a try
// while locked are each recorded; no code is.
func TestAuditMFALockout(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		logs := &logBuffer{}
		a := newACEnvOn(t, store, withLog(logs))
		b := flowtest.NewBrowser(t)
		page := a.toMFA(b)
		right := a.code()
		var wrong []string
		for i := 0; len(wrong) < 5; i++ {
			c := fmt.Sprintf("%06d", 135791+i*111111%900000)
			if c != right {
				wrong = append(wrong, c)
			}
		}
		for _, c := range wrong {
			require.False(t, passed(t, flowtest.Submit(t, b, page, url.Values{"otp": {c}})))
		}
		require.False(t, passed(t, flowtest.Submit(t, b, page, url.Values{"otp": {right}})), "refused while locked")

		failed := a.events(provider.AuditMFAFailed)
		require.Len(t, failed, 6)
		assert.Equal(t, "locked", failed[0].Detail("reason"))
		for _, ev := range failed[1:] {
			assert.Equal(t, "invalid_code", ev.Detail("reason"))
			assert.Equal(t, "totp", ev.Detail("factor"))
			assert.Equal(t, "sub-alice", ev.Subject)
			assert.Equal(t, a.portal.ID, ev.ClientID)
		}
		locked := a.event(provider.AuditMFALocked, a.portal.ID)
		assert.Equal(t, failed[1].Detail("locked_until"), locked.Detail("locked_until"))
		assert.NotEmpty(t, locked.Detail("locked_until"))

		a.nextStep()
		a.mfaClock.Advance(time.Minute) // past the lock
		right2 := a.code()
		require.True(t, passed(t, flowtest.Submit(t, b, page, url.Values{"otp": {right2}})))
		pass := a.event(provider.AuditMFAPassed, a.portal.ID)
		assert.Equal(t, storage.AuditActor{Kind: storage.ActorUser, ID: "sub-alice"}, pass.Actor)
		a.assertNoSecrets(logs, append(wrong, right, right2, demoTOTPSecret, "alice-password")...)
	})
}

// A client used from outside its IP ranges is recorded as ip.refused at
// each endpoint that refuses it, with the address it came from.
func TestAuditIPRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		logs := &logBuffer{}
		a := newACEnvOn(t, store, withLog(logs))
		from2 := fromAddr("127.0.0.2")
		cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}
		status, _ := a.postFrom(from2, "/oauth2/token", cc, a.svc.ID, a.svcSecret, nil)
		require.Equal(t, http.StatusUnauthorized, status)
		status, _ = a.postFrom(from2, "/oauth2/introspect", url.Values{"token": {"x"}}, a.svc.ID, a.svcSecret, nil)
		require.Equal(t, http.StatusUnauthorized, status)
		status, _ = a.postFrom(from2, "/oauth2/revoke", url.Values{"token": {"x"}}, a.svc.ID, a.svcSecret, nil)
		require.Equal(t, http.StatusUnauthorized, status)

		// The authorization endpoint, for a browser client bound to an
		// address.
		ctx := context.Background()
		bound, _, err := a.p.CreateClient(ctx, storage.Client{ID: "bound", GrantTypes: []string{"authorization_code"},
			RedirectURIs: []string{webRedirect}, Scopes: []string{"openid"}, IPRanges: []string{"127.0.0.1/32"}})
		require.NoError(t, err)
		b := flowtest.NewBrowser(t)
		b.Transport = from2.Transport
		cfg := a.oauth2Config(bound, "", webRedirect, "openid")
		flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))

		byEndpoint := map[string]storage.AuditEvent{}
		for _, ev := range a.events(provider.AuditIPRefused) {
			byEndpoint[ev.Detail("endpoint")] = ev
			assert.Equal(t, "127.0.0.2", ev.ClientAddr)
		}
		assert.Equal(t, a.svc.ID, byEndpoint["token"].ClientID)
		assert.Equal(t, a.svc.ID, byEndpoint["introspect"].ClientID)
		assert.Equal(t, a.svc.ID, byEndpoint["revoke"].ClientID)
		assert.Equal(t, "bound", byEndpoint["authorize"].ClientID)
		assert.Len(t, byEndpoint, 4)
		assert.Empty(t, a.events(provider.AuditTokenIssued))
		a.assertNoSecrets(logs, a.svcSecret)
	})
}

// Logout and EndUserSessions record the end of the sign-ins they end.
func TestAuditSessionEnded(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, logs := newAuditEnv(t, store)
		b := flowtest.NewBrowser(t)
		requireSignedIn(t, e.signIn(t, b, "alice", testUsers["alice"].password))
		page := flowtest.Get(t, b, e.url("/oauth2/logout"))
		require.Equal(t, http.StatusOK, page.Status)
		done := flowtest.Submit(t, b, page, nil)
		require.Equal(t, http.StatusOK, done.Status, done.Body)
		ended := e.event(provider.AuditSessionEnded, "")
		assert.Equal(t, "logout", ended.Detail("reason"))
		assert.Equal(t, storage.AuditActor{Kind: storage.ActorUser, ID: "sub-alice"}, ended.Actor)
		assert.Equal(t, "sub-alice", ended.Subject)
		assert.Equal(t, requestIDOf(t, done.Header), ended.RequestID)

		requireSignedIn(t, e.signIn(t, flowtest.NewBrowser(t), "bob", testUsers["bob"].password))
		ctx := provider.WithRequestID(provider.WithActor(context.Background(), storage.AuditActor{Kind: storage.ActorAdmin, ID: "helpdesk"}), "ticket-4711")
		require.NoError(t, e.p.EndUserSessions(ctx, "sub-bob"))
		var all []storage.AuditEvent
		for _, ev := range e.events(provider.AuditSessionEnded) {
			if ev.Subject == "sub-bob" {
				all = append(all, ev)
			}
		}
		require.Len(t, all, 1)
		assert.Equal(t, "end_user_sessions", all[0].Detail("reason"))
		assert.Equal(t, "1", all[0].Detail("sessions"))
		assert.Equal(t, storage.AuditActor{Kind: storage.ActorAdmin, ID: "helpdesk"}, all[0].Actor, "the actor of WithActor")
		assert.Equal(t, "ticket-4711", all[0].RequestID, "the request ID of WithRequestID")
		e.assertNoSecrets(logs, testUsers["alice"].password, testUsers["bob"].password)
	})
}

// A request ID is taken from X-Request-Id only when a trusted proxy sent
// it and it is well-formed; otherwise the provider makes one. Either way
// the answer carries it and the events name it.
func TestAuditRequestID(t *testing.T) {
	e, _ := newAuditEnv(t, memory.New(), func(c *provider.Config) { c.TrustedProxies = []string{"127.0.0.3"} })
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}
	post := func(from, id string) string {
		req, err := http.NewRequest(http.MethodPost, e.url("/oauth2/token"), strings.NewReader(cc.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.svc.ID, e.svcSecret)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := fromAddr(from).Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		got := requestIDOf(t, resp.Header)
		assert.Equal(t, got, e.events(provider.AuditTokenIssued)[0].RequestID, "the event names the answer's ID")
		return got
	}
	for _, tc := range []struct {
		name, from, sent string
		kept             bool
	}{
		{"a trusted proxy's ID is kept", "127.0.0.3", "proxy-7f3a:b2/c=+~_.", true},
		// A client could pass itself off as another request in the trail.
		{"a client's own ID is not believed", "127.0.0.1", "forged-request-id", false},
		{"a malformed ID from the proxy is replaced", "127.0.0.3", "bad id\twith spaces", false},
		{"an overlong ID from the proxy is replaced", "127.0.0.3", strings.Repeat("a", 129), false},
		{"none sent", "127.0.0.3", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := post(tc.from, tc.sent)
			if tc.kept {
				assert.Equal(t, tc.sent, got)
				return
			}
			assert.NotEqual(t, tc.sent, got)
			assert.Regexp(t, `^[A-Z2-7]{26}$`, got, "a new random ID")
		})
	}
	assert.NotEqual(t, post("127.0.0.1", ""), post("127.0.0.1", ""), "each request its own")
}

// Every answer of Handler's endpoints and of the admin API carries a
// request ID, whatever the answer.
func TestAuditEveryAnswerHasARequestID(t *testing.T) {
	e, _ := newAuditEnv(t, memory.New())
	ad := newAdminAPI(t, e.p)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json", "/userinfo", "/oauth2/authorize", "/oauth2/interaction", "/oauth2/logout", "/oauth2/token"} {
		resp, err := http.Get(e.url(path))
		require.NoError(t, err)
		resp.Body.Close()
		requestIDOf(t, resp.Header)
	}
	for _, path := range []string{"/clients", "/nowhere", "/audit?limit=0"} {
		requestIDOf(t, ad.call(http.MethodGet, path, nil).header)
	}
	requestIDOf(t, ad.call(http.MethodGet, "/clients", nil, "Authorization", "").header)
}

// The legacy implicit grant's tokens, issued at the authorization
// endpoint, are recorded as token.issued too; the tokens are not.
func TestAuditImplicitTokens(t *testing.T) {
	e, logs := newAuditEnv(t, memory.New(), allowLegacyGrants)
	c, _, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "legacy-spa", GrantTypes: []string{"implicit"}, RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid", "profile"},
	})
	require.NoError(t, err)
	q := url.Values{"response_type": {"id_token token"}, "client_id": {c.ID}, "redirect_uri": {"https://app.example.com/cb"},
		"scope": {"openid profile"}, "state": {"state-123456789"}, "nonce": {"nonce-123456789"}}
	back := e.authorize(flowtest.NewBrowser(t), e.url("/oauth2/authorize?")+q.Encode(), "alice")
	frag, err := url.ParseQuery(back.Fragment)
	require.NoError(t, err)
	require.NotEmpty(t, frag.Get("access_token"), "%s", back)
	ev := e.event(provider.AuditTokenIssued, c.ID)
	assert.Equal(t, "implicit", ev.Detail("grant"))
	assert.Equal(t, "id_token token", ev.Detail("response_type"))
	assert.Equal(t, "sub-alice", ev.Subject)
	e.assertNoSecrets(logs, frag.Get("access_token"), frag.Get("id_token"), testUsers["alice"].password)
}
