package oauth

import (
	"encoding/json"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// The session is serialised on every token write and read. fosite's own
// types marshal every field, zero or not (about 600 bytes for an empty
// session); this compact form writes only what is set and times as Unix
// nanoseconds, which halves the decode time on the introspection path.

type wireSession struct {
	Subject   string                     `json:"sub,omitempty"`
	Username  string                     `json:"usr,omitempty"`
	Expires   map[fosite.TokenType]int64 `json:"exp,omitempty"`
	Claims    *wireClaims                `json:"idt,omitempty"`
	Headers   map[string]any             `json:"hdr,omitempty"`
	Extra     map[string]any             `json:"ext,omitempty"`
	User      json.RawMessage            `json:"user,omitempty"`
	Tenant    *Tenant                    `json:"tnt,omitempty"`
	ClientIP  string                     `json:"ip,omitempty"`
	LoginSID  string                     `json:"sid,omitempty"` // absent in sessions stored before it existed
	Principal string                     `json:"pt,omitempty"`
	APIKeyID  string                     `json:"akid,omitempty"`
}

type wireClaims struct {
	JTI         string         `json:"jti,omitempty"`
	Issuer      string         `json:"iss,omitempty"`
	Subject     string         `json:"sub,omitempty"`
	Audience    []string       `json:"aud,omitempty"`
	Nonce       string         `json:"nonce,omitempty"`
	ExpiresAt   int64          `json:"exp,omitempty"`
	IssuedAt    int64          `json:"iat,omitempty"`
	RequestedAt int64          `json:"rat,omitempty"`
	AuthTime    int64          `json:"auth_time,omitempty"`
	AtHash      string         `json:"at_hash,omitempty"`
	ACR         string         `json:"acr,omitempty"`
	AMR         []string       `json:"amr,omitempty"`
	CHash       string         `json:"c_hash,omitempty"`
	Extra       map[string]any `json:"ext,omitempty"`
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// MarshalJSON writes the compact form.
func (s *Session) MarshalJSON() ([]byte, error) {
	return s.AppendJSON(make([]byte, 0, 256))
}

// AppendJSON appends the compact form (what MarshalJSON returns) to b.
func (s *Session) AppendJSON(b []byte) ([]byte, error) {
	w := wireSession{Extra: s.Extra, User: s.User, Tenant: s.Tenant, ClientIP: s.ClientIP, LoginSID: s.LoginSID, Principal: s.Principal, APIKeyID: s.APIKeyID}
	if d := s.DefaultSession; d != nil {
		w.Subject, w.Username = d.Subject, d.Username
		if len(d.ExpiresAt) > 0 {
			w.Expires = make(map[fosite.TokenType]int64, len(d.ExpiresAt))
			for k, v := range d.ExpiresAt {
				w.Expires[k] = nanos(v)
			}
		}
		if h := d.Headers; h != nil && len(h.Extra) > 0 {
			w.Headers = h.Extra
		}
		if c := d.Claims; c != nil {
			w.Claims = &wireClaims{
				JTI: c.JTI, Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, Nonce: c.Nonce,
				ExpiresAt: nanos(c.ExpiresAt), IssuedAt: nanos(c.IssuedAt), RequestedAt: nanos(c.RequestedAt), AuthTime: nanos(c.AuthTime),
				AtHash: c.AccessTokenHash, ACR: c.AuthenticationContextClassReference, AMR: c.AuthenticationMethodsReferences,
				CHash: c.CodeHash, Extra: c.Extra,
			}
			if len(w.Claims.Extra) == 0 {
				w.Claims.Extra = nil
			}
		}
	}
	return appendWire(b, &w)
}

// UnmarshalJSON reads the compact form into s. It replaces everything in
// s except the expiry times s already holds: an expiry time (per token type)
// that s has keeps its value, and only those s lacks are taken from b.
//
// fosite hands the store a session to load a stored grant into, and in the
// code exchange that session is live: handler/oauth2
// flow_authorize_code_token.go sets the new access and refresh tokens'
// expiry times on it in HandleTokenEndpointRequest, and then
// PopulateTokenEndpointResponse (and the PKCE handler, and
// handler/openid flow_explicit_token.go through GetOpenIDConnectSession)
// loads the code's session into that same value again before the tokens
// are generated and stored. Replacing the expiry times there wiped the
// lifetimes the handler had just computed (global or per client), and the
// tokens were stored without them. Every other load starts from a fresh
// session with no expiry times (the refresh grant, introspection, and the
// first load of the code exchange; Clone decodes into a zero Session), so
// all of its expiry times come from the record. A load never mixes grants:
// the loads of one exchange read the code, PKCE and OpenID Connect records
// of one code, written from one session; introspection, when an access
// token fails, looks the same signature up among refresh tokens, where an
// access token's signature is never found, so it loads one record at most.
//
// The map s holds is reused, so a load into a prototype allocates no
// expiry map of its own.
func (s *Session) UnmarshalJSON(b []byte) error {
	var w wireSession
	if err := decodeWire(b, &w); err != nil {
		w = wireSession{}
		if err := json.Unmarshal(b, &w); err != nil {
			return err
		}
	}
	var exp map[fosite.TokenType]time.Time
	if s.DefaultSession != nil {
		exp = s.ExpiresAt
	}
	if exp == nil {
		exp = make(map[fosite.TokenType]time.Time, len(w.Expires))
	}
	for k, v := range w.Expires {
		if t, ok := exp[k]; !ok || t.IsZero() {
			exp[k] = fromNanos(v)
		}
	}
	d := &openid.DefaultSession{
		Subject:   w.Subject,
		Username:  w.Username,
		ExpiresAt: exp,
		Headers:   &jwt.Headers{Extra: w.Headers},
	}
	if c := w.Claims; c == nil {
		d.Claims = &jwt.IDTokenClaims{}
	} else {
		d.Claims = &jwt.IDTokenClaims{
			JTI: c.JTI, Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, Nonce: c.Nonce,
			ExpiresAt: fromNanos(c.ExpiresAt), IssuedAt: fromNanos(c.IssuedAt), RequestedAt: fromNanos(c.RequestedAt), AuthTime: fromNanos(c.AuthTime),
			AccessTokenHash: c.AtHash, AuthenticationContextClassReference: c.ACR, AuthenticationMethodsReferences: c.AMR,
			CodeHash: c.CHash, Extra: c.Extra,
		}
	}
	*s = Session{DefaultSession: d, Extra: w.Extra, User: w.User, Tenant: w.Tenant, ClientIP: w.ClientIP, LoginSID: w.LoginSID,
		Principal: w.Principal, APIKeyID: w.APIKeyID}
	s.normalize()
	return nil
}
