package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// A SecretOption changes how [Provider.CreateClient],
// [Provider.CreateClientWithSecret] or [Provider.RotateClientSecret] make
// the client's new secret. [SecretExpiresAt] makes one.
type SecretOption interface{ applySecret(*secretOptions) }

// secretOptions are the SecretOptions of one call.
type secretOptions struct {
	expiresAt *time.Time // nil: after Config.ClientSecretLifetime
}

type secretExpiresAt time.Time

func (t secretExpiresAt) applySecret(o *secretOptions) {
	v := time.Time(t)
	o.expiresAt = &v
}

// SecretExpiresAt makes the new secret expire at t instead of after
// Config.ClientSecretLifetime; the zero time means it never expires (RFC
// 7591 client_secret_expires_at 0). A non-zero t must be in the future, and
// given only for a client that has a secret; otherwise the call fails with
// a [*ClientError] for the field "SecretExpiresAt". t is kept to the
// microsecond.
func SecretExpiresAt(t time.Time) SecretOption { return secretExpiresAt(t) }

// prepareClientWithSecret is prepareClient for a registration that makes a
// secret: it also returns when the secret expires, and reports a bad
// expiry together with the other invalid fields.
func (p *Provider) prepareClientWithSecret(c storage.Client, opts []SecretOption) (storage.Client, time.Time, error) {
	prepared, err := p.prepareClient(c)
	if err == nil {
		c.ID = prepared.ID // generated
	}
	o := newSecretOptions(opts)
	expires, expErr := p.secretExpiry(c.ID, p.clientTime(), o)
	if expErr == nil && o.expiresAt != nil && !expires.IsZero() && !usesSecret(c) {
		expErr = &ClientError{ClientID: c.ID, Field: "SecretExpiresAt",
			Reason: "the client has no secret (it is public or uses private_key_jwt), so no secret expiry can be given; leave it zero"}
	}
	if err := errors.Join(err, expErr); err != nil {
		return storage.Client{}, time.Time{}, err
	}
	return prepared, expires, nil
}

func newSecretOptions(opts []SecretOption) secretOptions {
	var o secretOptions
	for _, opt := range opts {
		opt.applySecret(&o)
	}
	return o
}

// secretExpiry returns when a secret of client id made at now expires
// under o: the zero time for never.
func (p *Provider) secretExpiry(id string, now time.Time, o secretOptions) (time.Time, error) {
	if o.expiresAt == nil {
		if p.cfg.ClientSecretLifetime < 0 {
			return time.Time{}, nil
		}
		return now.Add(p.cfg.ClientSecretLifetime), nil
	}
	t := o.expiresAt.UTC().Truncate(time.Microsecond)
	if !t.IsZero() && !t.After(now) {
		return time.Time{}, &ClientError{ClientID: id, Field: "SecretExpiresAt",
			Reason: fmt.Sprintf("must be in the future, or zero for a secret that never expires; got %s", t.Format(time.RFC3339))}
	}
	return t, nil
}

// errSecretExpired is the cause of the invalid_client answer to a client
// that presented one of its secrets after that secret expired (a
// *secretExpiredError, which says when).
var errSecretExpired = errors.New("provider: the client secret has expired")

// secretExpiredError is errSecretExpired with the time the secret expired.
type secretExpiredError struct{ at time.Time }

func (e *secretExpiredError) Error() string { return errSecretExpired.Error() }
func (e *secretExpiredError) Unwrap() error { return errSecretExpired }

// authenticateClientExplained is the engine's client authentication (set
// in New), used by the token, introspection and revocation endpoints:
// [Provider.authenticateClient], whose refusal of an expired secret it
// explains (see explainExpiredSecret).
func (p *Provider) authenticateClientExplained(ctx context.Context, r *http.Request, form url.Values) (*oauth.Client, error) {
	c, err := p.authenticateClient(ctx, r, form)
	if err != nil {
		err = p.explainExpiredSecret(ctx, r, form, err)
		p.countClientAuthFailure(ctx, r, form, err)
		p.auditClientAuth(ctx, r, form, err)
		return nil, err
	}
	return c, nil
}

// countClientAuthFailure counts a failed client authentication by its
// reason (clientAuthReason), with the client's ID when the request loaded
// the client from the store (an unknown ID is never an attribute).
func (p *Provider) countClientAuthFailure(ctx context.Context, r *http.Request, form url.Values, err error) {
	reason := clientAuthReason(err)
	if reason == "" {
		return
	}
	id := ""
	if reason != "malformed_request" && reason != "unknown_client" {
		if cid, _, _, ok := oauth.ClientCredentials(ctx, r, form); ok {
			if c, known := oauth.LoadedClient(ctx, cid); known {
				id = c.ID
			}
		}
	}
	p.tel.clientAuthFailed(ctx, reason, id)
}

// clientAuthReason names why a client authentication failed, for
// gatehouse.client.authentication.failures: locked (by
// Config.ClientAuthLockout), secret_expired, malformed_request (two
// methods, unreadable credentials), unknown_client, or
// invalid_credentials (a wrong secret or assertion). A backend failure is
// not the client's and is "" (not counted here; the store counts it).
func clientAuthReason(err error) string {
	var locked *clientLockedError
	a := oauth.Translate(err)
	switch {
	case err == nil, a.Status >= 500:
		return ""
	case errors.As(err, &locked):
		return "locked"
	case errors.Is(err, errSecretExpired):
		return "secret_expired"
	case a.Code == "invalid_request":
		return "malformed_request"
	case errors.Is(err, storage.ErrNotFound):
		return "unknown_client"
	default:
		return "invalid_credentials"
	}
}

// explainExpiredSecret returns err, the refusal of a request's client
// authentication, or, when that refusal is invalid_client for a secret
// that is one of the client's expired secrets, invalid_client saying that
// the secret expired and must be rotated. The engine never accepts an
// expired secret (oauth.NewClient leaves them out), so without this a
// client whose secret expired would hear only that authentication failed.
//
// Only a caller that presents the expired secret itself learns that it
// expired; anyone else, for a known client or an unknown one, gets err
// unchanged, after the same single store read. The comparisons are the
// hasher's, constant-time in the secret; an expired host-chosen (bcrypt)
// secret costs a bcrypt comparison, bounded like any other by
// Config.SecretHashConcurrency, and the failure was already counted by
// Config.ClientAuthLockout. A pair the lockout refused, and a client
// assertion (private_key_jwt), are answered as they are, without any check.
func (p *Provider) explainExpiredSecret(ctx context.Context, r *http.Request, form url.Values, err error) error {
	var locked *clientLockedError
	if !oauth.InvalidClient.In(err) || errors.As(err, &locked) || form.Get("client_assertion_type") != "" {
		return err
	}
	id, plain, _, ok := oauth.ClientCredentials(ctx, r, form)
	if !ok || plain == "" {
		return err
	}
	c, lookupErr := p.engine.Client(ctx, id)
	if lookupErr != nil {
		return err
	}
	now := p.cfg.Now()
	for _, s := range c.Secrets {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			continue // live secrets were checked already
		}
		if p.hasher.Compare(ctx, []byte(s.Hash), []byte(plain)) == nil {
			return oauth.InvalidClient.Wrap(fmt.Sprintf("The client secret expired at %s: an administrator must rotate the client's secret, and the client must use the new one.",
				s.ExpiresAt.UTC().Format(time.RFC3339)), &secretExpiredError{at: s.ExpiresAt})
		}
	}
	return err
}
