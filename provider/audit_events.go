package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// The events of requests, one function per cause, each called where the
// provider decides on it. Each builds its event from what the provider
// decided (IDs, scopes, reasons), never from a secret of the request; the
// ones that would do work beyond building the event (a client lookup, a
// join of scopes) first check Config.AuditDisabled.

// clientActor is a client acting, by the ID it presented.
func clientActor(id string) storage.AuditActor {
	return storage.AuditActor{Kind: storage.ActorClient, ID: id}
}

// userActor is a user acting, by subject ("" while unknown).
func userActor(subject string) storage.AuditActor {
	return storage.AuditActor{Kind: storage.ActorUser, ID: subject}
}

// auditTokens records the tokens a token request was just given:
// token.refreshed for the refresh grant, token.issued for the others.
func (p *Provider) auditTokens(ctx context.Context, tr *tokenRequest) {
	if p.cfg.AuditDisabled {
		return
	}
	ar := tr.ar
	c := ar.Client()
	if c == nil {
		return
	}
	typ, grant := AuditTokenIssued, ar.GrantType()
	if grant == "refresh_token" {
		typ = AuditTokenRefreshed
	}
	subject := ""
	if s := ar.Session(); s != nil {
		subject = s.GetSubject()
	}
	p.audit(ctx, storage.AuditEvent{
		Type: typ, Actor: clientActor(c.ID), Target: "grant:" + ar.ID(), ClientID: c.ID, Subject: subject,
		ClientAddr: tr.addrString(), // resolved already
	}, detail("grant", grant), detail("grant_id", ar.ID()), detail("scopes", strings.Join(ar.GrantedScopes(), " "))) // in name order: no copy to sort them
}

// auditReuse records what the store saw of a token request that presented
// a used code or a rotated refresh token (code.replayed,
// refresh.reuse_detected), or, for a lost race to consume a code
// (codeRace), code.replayed of the request's grant. presenter is the
// client that presented it.
func (p *Provider) auditReuse(ctx context.Context, state *oauth.Request, presenter string, codeRace *oauth.AccessRequest) {
	if p.cfg.AuditDisabled {
		return
	}
	kinds := []struct {
		kind oauth.GrantEventKind
		typ  string
	}{{oauth.CodeReplayed, AuditCodeReplayed}, {oauth.RefreshReused, AuditRefreshReuseDetected}}
	for _, k := range kinds {
		g, ok := state.Saw(k.kind)
		if !ok && k.kind == oauth.CodeReplayed && codeRace != nil {
			g, ok = oauth.GrantRef{ID: codeRace.ID(), ClientID: presenter}, true
			if s := codeRace.Session(); s != nil {
				g.Subject = s.GetSubject()
			}
		}
		if !ok {
			continue
		}
		clientID := g.ClientID
		if clientID == "" {
			clientID = presenter
		}
		p.audit(ctx, storage.AuditEvent{
			Type: k.typ, Actor: clientActor(presenter), Target: "grant:" + g.ID, ClientID: clientID, Subject: g.Subject,
			Details: details("grant_id", g.ID, "revoked", "grant"),
		})
	}
}

// auditRevoked records the grants a revocation request revoked
// (token.revoked).
func (p *Provider) auditRevoked(ctx context.Context, state *oauth.Request) {
	if p.cfg.AuditDisabled {
		return
	}
	c := state.AuthenticatedClient()
	if c == nil {
		return
	}
	for _, e := range state.GrantEvents() {
		if e.Kind != oauth.GrantRevoked {
			continue
		}
		p.audit(ctx, storage.AuditEvent{
			Type: AuditTokenRevoked, Actor: clientActor(c.ID), Target: "grant:" + e.Grant.ID, ClientID: c.ID, Subject: e.Grant.Subject,
			Details: details("grant_id", e.Grant.ID),
		})
	}
}

// auditIPRefused records a client refused at endpoint for its address
// (ip.refused); the address is the request's.
func (p *Provider) auditIPRefused(ctx context.Context, clientID, endpoint string) {
	p.audit(ctx, storage.AuditEvent{
		Type: AuditIPRefused, Actor: clientActor(clientID), Target: "client:" + clientID, ClientID: clientID,
		Details: details("endpoint", endpoint),
	})
}

// auditClientAuth records a failed client authentication (err, an
// invalid_client refusal): client.secret_expired for an expired secret,
// client.auth_failed with the reason for the rest. Other errors (a
// malformed request, a backend failure) record nothing.
func (p *Provider) auditClientAuth(ctx context.Context, r *http.Request, form url.Values, err error) {
	if p.cfg.AuditDisabled {
		return
	}
	if !oauth.InvalidClient.In(err) {
		return
	}
	id, plain, _, _ := oauth.ClientCredentials(ctx, r, form)
	if id == "" {
		id = form.Get("client_id")
	}
	e := storage.AuditEvent{Type: AuditClientAuthFailed, Actor: clientActor(id), Target: "client:" + id, ClientID: id}
	var locked *clientLockedError
	var expired *secretExpiredError
	reason := "invalid_secret"
	switch {
	case errors.As(err, &expired):
		e.Type = AuditClientSecretExpired
		e.Details = details("expired_at", expired.at.UTC().Format(time.RFC3339))
		p.audit(ctx, e)
		return
	case errors.As(err, &locked):
		reason = "locked"
	case form.Get("client_assertion_type") != "" || form.Get("client_assertion") != "":
		reason = "invalid_assertion"
	case id == "":
		reason = "no_client_id"
	default:
		if _, lookupErr := p.engine.Client(ctx, id); errors.Is(lookupErr, storage.ErrNotFound) {
			reason = "unknown_client"
		} else if plain == "" {
			reason = "missing_secret"
		}
	}
	e.Details = details("reason", reason)
	p.audit(ctx, e)
}

// auditSignIn records the outcome of a password check of username for
// client (signin.succeeded, signin.failed, and signin.locked when the
// failure locked the username): err and until are checkPassword's, u the
// user it returned.
func (p *Provider) auditSignIn(ctx context.Context, clientID, username string, u User, until time.Time, err error) {
	if p.cfg.AuditDisabled {
		return
	}
	e := storage.AuditEvent{Actor: userActor(""), Target: "username:" + username, ClientID: clientID}
	switch {
	case err == nil:
		e.Type, e.Actor, e.Subject = AuditSignInSucceeded, userActor(u.Subject), u.Subject
	case errors.Is(err, errPasswordLocked):
		e.Type = AuditSignInFailed
		e.Details = details("reason", "locked", "locked_until", until.UTC().Format(time.RFC3339))
	case errors.Is(err, ErrInvalidCredentials):
		e.Type = AuditSignInFailed
		e.Details = details("reason", "invalid_credentials")
		if !until.IsZero() {
			e.Details = append(e.Details, detail("locked_until", until.UTC().Format(time.RFC3339)))
			p.audit(ctx, e)
			e.Type = AuditSignInLocked
			e.Details = details("locked_until", until.UTC().Format(time.RFC3339))
		}
	default:
		return // a backend failure: no one's doing
	}
	p.audit(ctx, e)
}

// auditMFA records the outcome of a second factor's check (mfa.passed,
// mfa.failed, and mfa.locked when the failure locked the factor).
func (p *Provider) auditMFA(ctx context.Context, clientID, subject, factor, reason string, lockedUntil time.Time) {
	e := storage.AuditEvent{Type: AuditMFAPassed, Actor: userActor(subject), Target: "user:" + subject, ClientID: clientID, Subject: subject,
		Details: details("factor", factor)}
	if reason != "" {
		e.Type = AuditMFAFailed
		e.Details = append(e.Details, detail("reason", reason))
	}
	if !lockedUntil.IsZero() {
		e.Details = append(e.Details, detail("locked_until", lockedUntil.UTC().Format(time.RFC3339)))
	}
	p.audit(ctx, e)
	if reason == "invalid_code" && !lockedUntil.IsZero() {
		p.audit(ctx, storage.AuditEvent{Type: AuditMFALocked, Actor: userActor(subject), Target: "user:" + subject, ClientID: clientID, Subject: subject,
			Details: details("factor", factor, "locked_until", lockedUntil.UTC().Format(time.RFC3339))})
	}
}

// revokeConsent revokes subject's remembered consent for clientID and
// records it (consent.revoked) as an administrative change: in the same
// transaction where the store allows, and failing if the event cannot be
// written. The actor is the context's ([WithActor]): the user, on a page
// of their own, or an administrator. It is what code that lets users or
// administrators revoke an application's access calls.
func (p *Provider) revokeConsent(ctx context.Context, subject, clientID string) error {
	return p.auditChange(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		// None remembered (the user never consented, or it was revoked
		// already): recorded all the same, as asked.
		if err := p.store.RevokeConsent(ctx, subject, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return storage.AuditEvent{}, err
		}
		return storage.AuditEvent{Type: AuditConsentRevoked, Target: "client:" + clientID, ClientID: clientID, Subject: subject}, nil
	})
}
