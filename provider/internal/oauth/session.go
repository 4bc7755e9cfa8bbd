package oauth

import (
	"encoding/json"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is the provider's fosite session: the OpenID Connect session
// (ID token claims and headers, expiry per token type, subject) plus what
// Gatehouse records about the grant. It is serialised as JSON into
// storage.Request.Session by its MarshalJSON and UnmarshalJSON (a compact
// wire form, session_wire.go), so its fields carry no JSON tags.
type Session struct {
	*openid.DefaultSession
	// Extra holds claims returned by introspection beside the standard ones.
	Extra map[string]any
	// User is the user's data (JSON) as known when the grant was made,
	// used for userinfo when the host gives no user lookup.
	User json.RawMessage
	// Tenant is the tenant (customer) the user chose for the grant; nil
	// when the grant is not for a tenant.
	Tenant *Tenant
	// ClientIP is the client address that started the grant.
	ClientIP string
	// LoginSID is the storage.LoginSession SID of the browser sign-in the
	// grant was made in, or "" for a grant not made through one. ToRecord
	// copies it into storage.Request.LoginSID, so that every token of the
	// grant, those a refresh issues included, carries it.
	LoginSID string
	// Principal is "application" for a grant of an application user (a
	// service principal); "" for a user's grant and for a client's own.
	Principal string
	// APIKeyID is the ID of the API key the grant was made with, or "".
	APIKeyID string
}

// Tenant is the tenant of a grant, as recorded in its session.
type Tenant struct {
	ID        string `json:"id"`
	DomainID  string `json:"dom,omitempty"`
	ShortName string `json:"short,omitempty"`
	Name      string `json:"name,omitempty"`
}

// NewSession returns an empty session for subject.
func NewSession(subject string) *Session {
	return &Session{DefaultSession: &openid.DefaultSession{
		Claims:    &jwt.IDTokenClaims{Subject: subject, Extra: map[string]any{}},
		Headers:   &jwt.Headers{Extra: map[string]any{}},
		ExpiresAt: map[fosite.TokenType]time.Time{},
		Subject:   subject,
	}}
}

// loadTarget returns a session for a stored one to be loaded into
// (UnmarshalJSON replaces every part of it): fewer allocations than
// NewSession's, on every introspection.
func loadTarget() *Session {
	return &Session{DefaultSession: &openid.DefaultSession{}}
}

// Clone returns a deep copy.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	b, err := s.AppendJSON(nil)
	if err != nil {
		return NewSession(s.GetSubject())
	}
	c := &Session{}
	if err := c.UnmarshalJSON(b); err != nil {
		return NewSession(s.GetSubject())
	}
	c.normalize()
	return c
}

// GetExtraClaims implements fosite.ExtraClaimsSession.
func (s *Session) GetExtraClaims() map[string]any { return s.Extra }

// normalize makes sure no pointer or map that fosite writes to is nil.
func (s *Session) normalize() {
	if s.DefaultSession == nil {
		s.DefaultSession = &openid.DefaultSession{}
	}
	if s.Claims == nil {
		s.Claims = &jwt.IDTokenClaims{}
	}
	if s.Claims.Extra == nil {
		s.Claims.Extra = map[string]any{}
	}
	if s.Headers == nil {
		s.Headers = &jwt.Headers{}
	}
	if s.Headers.Extra == nil {
		s.Headers.Extra = map[string]any{}
	}
	if s.ExpiresAt == nil {
		s.ExpiresAt = map[fosite.TokenType]time.Time{}
	}
}

// unmarshalSession decodes b into the session prototype fosite passed. The
// prototype's expiry times survive (see [Session.UnmarshalJSON]: fosite sets
// them before it loads the grant). Calling UnmarshalJSON directly spares
// json.Unmarshal's validating pass over b; UnmarshalJSON's own decode
// validates it.
func unmarshalSession(b []byte, into fosite.Session) error {
	if s, ok := into.(*Session); ok {
		return s.UnmarshalJSON(b)
	}
	return json.Unmarshal(b, into)
}

// SessionTenant returns the tenant recorded in a stored grant's session
// (storage.Request.Session), or nil when it has none or cannot be read.
func SessionTenant(b []byte) *Tenant {
	s := loadTarget()
	if err := s.UnmarshalJSON(b); err != nil {
		return nil
	}
	return s.Tenant
}

// Expiry returns when the session's token of kind use expires (zero when
// not set).
func (s *Session) Expiry(use TokenUse) time.Time { return s.GetExpiresAt(fosite.TokenType(use)) }

// SetAuthentication records when and how the user authenticated, for the
// ID token and the JWT access token: auth_time (truncated to the second),
// amr and acr.
func (s *Session) SetAuthentication(authTime time.Time, amr []string, acr string) {
	s.Claims.AuthTime = authTime.UTC().Truncate(time.Second)
	s.Claims.AuthenticationMethodsReferences = amr
	s.Claims.AuthenticationContextClassReference = acr
}

// AuthTime returns when the user authenticated (zero for a client's own
// grant).
func (s *Session) AuthTime() time.Time {
	if s.Claims == nil {
		return time.Time{}
	}
	return s.Claims.AuthTime
}

// AMR returns how the user authenticated (RFC 8176 values).
func (s *Session) AMR() []string {
	if s.Claims == nil {
		return nil
	}
	return s.Claims.AuthenticationMethodsReferences
}

// ACR returns the authentication context class of the user's sign-in.
func (s *Session) ACR() string {
	if s.Claims == nil {
		return ""
	}
	return s.Claims.AuthenticationContextClassReference
}

// SetRequestedAt records when the authorization was requested.
func (s *Session) SetRequestedAt(t time.Time) { s.Claims.RequestedAt = t }

// SetIDTokenSubject sets the subject of the ID tokens the grant issues
// (the session's own subject is set by the engine where the protocol
// names it).
func (s *Session) SetIDTokenSubject(subject string) { s.Claims.Subject = subject }

// AddIDTokenClaims adds claims to the ID tokens the grant issues.
func (s *Session) AddIDTokenClaims(claims map[string]any) {
	for k, v := range claims {
		s.Claims.Extra[k] = v
	}
}

// SetExpiry sets when the session's token of kind use expires, replacing
// what the grant's handler set (an application user's own access token
// lifetime).
func (s *Session) SetExpiry(use TokenUse, t time.Time) { s.SetExpiresAt(fosite.TokenType(use), t) }
