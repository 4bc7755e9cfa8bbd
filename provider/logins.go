package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// A grant made through an interactive login records the browser's sign-in
// (storage.Request.LoginSID, the session's SID), and ending the sign-in
// ends the grant: RP-initiated logout and EndUserSessions revoke every
// token whose grant was made in it. A sign-in that merely expires revokes
// nothing, unless the client has RefreshBoundToLogin. docs/grant-lifecycle.md
// states the whole lifecycle.

// errSignInEnded refuses an authorization whose browser sign-in ended (a
// logout in another tab, or another user's sign-in) before it finished: a
// grant made then would belong to no sign-in, and no logout would end it.
var errSignInEnded = oauth.AccessDenied.Hint("Your sign-in ended before the authorization finished; start again.")

// errRefreshSignInEnded refuses a refresh token of a client with
// RefreshBoundToLogin whose sign-in is no longer live.
var errRefreshSignInEnded = oauth.InvalidGrant.Hint("The sign-in this grant was made in has ended, and this client's refresh tokens end with it; sign in again.")

// endedSignInMemory is how long the store remembers an ended sign-in
// (RevokeLoginGrants' until): a token of it created meanwhile, by a code
// exchange or refresh that was under way when it ended, is stored
// inactive. Such a request ends within seconds; the hour is a wide margin.
const endedSignInMemory = time.Hour

// endSessionsRounds bounds EndUserSessions' passes over a user who keeps
// signing in while it runs.
const endSessionsRounds = 3

// loginSID returns the SID of a login session: its SID, or its ID for a
// session stored before sessions had one.
func loginSID(ls *storage.LoginSession) string {
	if ls.SID != "" {
		return ls.SID
	}
	return ls.ID
}

// sessionLive reports whether ls has not expired.
func (p *Provider) sessionLive(ls *storage.LoginSession) bool {
	return p.cfg.Now().Before(ls.ExpiresAt)
}

// loginLive reports whether subject has a live login session whose SID is
// sid.
func (p *Provider) loginLive(ctx context.Context, subject, sid string) (bool, error) {
	sessions, err := p.store.LoginSessionsBySubject(ctx, subject)
	if err != nil {
		return false, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	for i := range sessions {
		if loginSID(&sessions[i]) == sid && p.sessionLive(&sessions[i]) {
			return true, nil
		}
	}
	return false, nil
}

// loginStillLive reports whether the sign-in of ls is still live: ls
// itself is (the cheap, usual case), or the session that replaced it (a
// second factor completed in another tab) is.
func (p *Provider) loginStillLive(ctx context.Context, ls *storage.LoginSession) (bool, error) {
	cur, err := p.store.GetLoginSession(ctx, ls.ID)
	switch {
	case err == nil:
		if loginSID(&cur) == loginSID(ls) && p.sessionLive(&cur) {
			return true, nil
		}
	case !errors.Is(err, storage.ErrNotFound):
		return false, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	return p.loginLive(ctx, ls.Subject, loginSID(ls))
}

// endLogin ends a login session: if it is live, it ends its sign-in in
// the store (RevokeLoginGrants: every token made in it is revoked, and
// every token of it created later, by a request under way, is stored
// inactive), and it deletes the session. The sign-in is ended first, so
// that a failure leaves the session for a retry to find.
func (p *Provider) endLogin(ctx context.Context, ls *storage.LoginSession) error {
	if p.sessionLive(ls) {
		until := p.cfg.Now().Add(endedSignInMemory).UTC()
		if err := p.engine.Deny(ctx, storage.DenySignIn, oauth.SignInDenyKey(loginSID(ls)), time.Time{}); err != nil {
			return err
		}
		if err := p.store.RevokeLoginGrants(ctx, loginSID(ls), until); err != nil {
			return fmt.Errorf("%w: revoke the grants of a sign-in: %w", oauth.ErrUnavailable, err)
		}
	}
	if err := p.store.DeleteLoginSession(ctx, ls.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: delete a login session: %w", oauth.ErrUnavailable, err)
	}
	return nil
}

// revokeGrant revokes every code, access token and refresh token of the
// grant with request ID id.
func (p *Provider) revokeGrant(ctx context.Context, id string) {
	if err := p.store.RevokeFamily(ctx, storage.KindAuthCode, id); err != nil {
		p.cfg.Logger.LogAttrs(ctx, slog.LevelError, "revoke authorization code", slog.String("request_id", id), slog.String("error", err.Error()))
	}
	p.revokeFamily(ctx, id)
}

// EndUserSessions signs subject out everywhere: it ends every live login
// session of the user at the provider (every browser) and revokes every
// grant made in them, codes, access and refresh tokens alike, as an
// RP-initiated logout does for one session. Use it when a user asks to be
// signed out everywhere, or is disabled. Expired sessions are deleted too;
// the grants made in them are not revoked, as their expiry did not revoke
// them (offline access), and neither are grants not made through a browser
// sign-in (client credentials, the password grant).
//
// Revoked access tokens stop working at once at introspection, userinfo
// and [Provider.RequireScopes]; a JWT access token that a resource server
// checks by its signature alone works until it expires.
//
// A user who signs in again while it runs gets a new session: after ending
// the sessions it listed, it lists the user's sessions again, and returns
// once a listing finds none; if the third still finds some, it returns an
// error. A sign-in completed after that last listing is not ended. To
// disable a user, first make the host's authenticator refuse them, then
// call EndUserSessions (and have the UserLookup report them as not found,
// which ends the grants of sessions that had already expired at their next
// refresh). The error wraps [ErrUnavailable] when the store failed; call
// it again then.
func (p *Provider) EndUserSessions(ctx context.Context, subject string) error {
	ended := 0
	for range endSessionsRounds {
		sessions, err := p.store.LoginSessionsBySubject(ctx, subject)
		if err != nil {
			return fmt.Errorf("provider: end the sessions of %q: %w: %w", subject, ErrUnavailable, err)
		}
		if len(sessions) == 0 {
			p.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "user sessions ended", slog.String("subject", subject), slog.Int("sessions", ended))
			p.audit(ctx, storage.AuditEvent{
				Type: AuditSessionEnded, Target: "user:" + subject, Subject: subject,
				Details: details("reason", "end_user_sessions", "sessions", strconv.Itoa(ended)),
			})
			return nil
		}
		for i := range sessions {
			if err := p.endLogin(ctx, &sessions[i]); err != nil {
				return fmt.Errorf("provider: end the sessions of %q: %w", subject, err)
			}
			ended++
		}
	}
	return fmt.Errorf("provider: end the sessions of %q: sessions remain after %d passes, the user keeps signing in; make the authenticator refuse the user, then call EndUserSessions again", subject, endSessionsRounds)
}
