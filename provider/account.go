package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// ConnectedApp is an application (client) a user has authorized: one with
// a remembered consent, or holding live tokens of the user, or both. See
// [Provider.ConnectedApps].
type ConnectedApp struct {
	// ClientID is the client's client_id.
	ClientID string
	// Name is the client's registered Name, or its ID when it has none.
	Name string
	// LogoURI is the client's registered logo (storage.Client.LogoURI), or
	// empty.
	LogoURI string
	// Scopes are what the user allowed the client: the scopes of its
	// newest live grant, then those of the remembered consent it lacks.
	Scopes []string
	// Tenant is the tenant (customer) the newest live grant is for, or nil.
	Tenant *Tenant
	// GrantedAt is when the user allowed it: the remembered consent's
	// time, else when the newest live grant was first requested.
	GrantedAt time.Time
	// LastUsed is when the client last obtained tokens for the user (a
	// sign-in or a refresh); zero when it holds no live token (or only
	// tokens stored before Gatehouse recorded the time).
	LastUsed time.Time
}

// ConnectedApps returns the applications subject has authorized: every
// client with a remembered consent of the user that has not expired, and
// every client holding an access or refresh token of the user that is
// still valid, ordered by name (then client ID). Deleted clients are left
// out. The error wraps [ErrUnavailable] when the store failed.
func (p *Provider) ConnectedApps(ctx context.Context, subject string) ([]ConnectedApp, error) {
	if subject == "" {
		return nil, errors.New("provider: ConnectedApps: empty subject")
	}
	now := p.cfg.Now()
	consents, err := p.store.ListConsents(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("provider: connected apps of %q: %w: %w", subject, ErrUnavailable, err)
	}
	grants, err := p.store.ListGrants(ctx, subject, now)
	if err != nil {
		return nil, fmt.Errorf("provider: connected apps of %q: %w: %w", subject, ErrUnavailable, err)
	}
	apps := map[string]*ConnectedApp{}
	app := func(id string) *ConnectedApp {
		if apps[id] == nil {
			apps[id] = &ConnectedApp{ClientID: id}
		}
		return apps[id]
	}
	for _, g := range grants {
		a := app(g.Request.ClientID)
		a.Scopes = slices.Clone(g.Request.GrantedScopes)
		a.Tenant = tenantOf(oauth.SessionTenant(g.Request.Session))
		a.GrantedAt = g.Request.RequestedAt
		a.LastUsed = g.CreatedAt
	}
	for _, c := range consents {
		if !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) {
			continue
		}
		a := app(c.ClientID)
		for _, s := range c.Scopes {
			if !slices.Contains(a.Scopes, s) {
				a.Scopes = append(a.Scopes, s)
			}
		}
		a.GrantedAt = c.GrantedAt
	}
	out := make([]ConnectedApp, 0, len(apps))
	for id, a := range apps {
		c, err := p.store.GetClient(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("provider: connected apps of %q: %w: %w", subject, ErrUnavailable, err)
		}
		a.Name = cmp.Or(c.Name, c.ID)
		a.LogoURI = c.LogoURI
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b ConnectedApp) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), strings.Compare(a.ClientID, b.ClientID))
	})
	return out, nil
}

// revokedGrantMemory is how long the store remembers a revoked grant
// (RevokeUserClientGrants' until), as endedSignInMemory is for a sign-in.
const revokedGrantMemory = time.Hour

// RevokeApp disconnects an application from a user at once: it revokes
// every code, access token and refresh token of subject's grants to
// clientID (a refresh or code exchange under way when it runs gets
// inactive tokens too), and deletes the user's remembered consent for the
// client, so that the next authorization asks for consent again.
// Revoking an application the user never authorized is not an error.
//
// Revoked access tokens stop working at once at introspection, userinfo
// and [Provider.RequireScopes]; a JWT access token that a resource server
// checks by its signature alone works until it expires. The error wraps
// [ErrUnavailable] when the store failed; call it again then.
func (p *Provider) RevokeApp(ctx context.Context, subject, clientID string) error {
	return p.revokeApp(ctx, nil, subject, clientID)
}

// revokeApp is RevokeApp, with the request of the account page that asked
// for it (nil for the Go API), for the audit event.
func (p *Provider) revokeApp(ctx context.Context, r *http.Request, subject, clientID string) error {
	if subject == "" || clientID == "" {
		return errors.New("provider: RevokeApp: empty subject or client ID")
	}
	// The tokens first: if this fails, the consent is still there, the
	// app still listed, and a retry finds it.
	until := p.cfg.Now().Add(revokedGrantMemory).UTC()
	if err := p.engine.Deny(ctx, storage.DenyUserClient, oauth.UserClientDenyKey(subject, clientID), p.cfg.Now()); err != nil {
		return fmt.Errorf("provider: revoke %q for %q: %w", clientID, subject, err)
	}
	if err := p.store.RevokeUserClientGrants(ctx, subject, clientID, until); err != nil {
		return fmt.Errorf("provider: revoke %q for %q: %w: %w", clientID, subject, ErrUnavailable, err)
	}
	if r != nil { // the user, on their own page
		ctx = WithActor(ctx, userActor(subject))
	}
	if err := p.revokeConsent(ctx, subject, clientID); err != nil {
		if errors.Is(err, errAuditWrite) {
			return err
		}
		return fmt.Errorf("provider: revoke %q for %q: %w: %w", clientID, subject, ErrUnavailable, err)
	}
	return nil
}

// accountEvent records a change a user (r not nil: on an account page) or
// the host (r nil: through the Go API, with the actor ctx names) made to
// subject's account: typ is AuditMFAEnrolled or AuditMFARemoved, clientID
// the application concerned or "". The event is written before the call
// returns; its error says the change was made but not recorded.
func (p *Provider) accountEvent(ctx context.Context, r *http.Request, typ, subject, clientID string) error {
	if r != nil {
		ctx = WithActor(ctx, userActor(subject))
	}
	e := storage.AuditEvent{Type: typ, Target: "user:" + subject, ClientID: clientID, Subject: subject}
	if err := p.auditNow(ctx, e); err != nil {
		return fmt.Errorf("provider: %s was done but not recorded: %w", typ, err)
	}
	return nil
}
