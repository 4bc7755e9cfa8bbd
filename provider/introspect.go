package provider

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/jsonw"
	"github.com/gatehouse/gatehouse/provider/internal/oauth"
)

// IntrospectHandler returns the introspection endpoint (RFC 7662). The
// caller must authenticate as a confidential client (any of the token
// endpoint's methods); bearer tokens are not accepted as caller
// credentials. An unknown, expired, revoked or malformed token is
// {"active":false}, with no detail.
//
// A client sees only the tokens that concern it (RFC 7662 §2.1 lets the
// server "respond differently to different protected resources"; §4 warns
// of clients fishing for tokens): its own access and refresh tokens, and,
// if it is a resource server with [storage.Client.IntrospectAudiences],
// the access tokens whose granted audience includes one of those values,
// opaque and JWT alike. A refresh token is shown to its own client only.
// Any other token is answered exactly as an unknown one: 200 and
// {"active":false}.
//
// With [Config.CORSIntrospection], browsers may call it cross-origin from
// the calling client's origins; without, it sends no CORS headers.
func (p *Provider) IntrospectHandler() http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "The introspection endpoint accepts only POST.")
			return
		}
		if !p.parseForm(w, r) {
			return
		}
		ctx = oauth.WithRequest(ctx, oauth.NewRequest())
		if !hasClientCredentials(ctx, r) {
			p.writeTokenError(ctx, w, nil, oauth.InvalidClient.Hint("Authenticate as a client to introspect tokens."))
			return
		}
		client, err := p.engine.AuthenticateClient(ctx, r, r.PostForm)
		if err == nil {
			telOf(w).setClient(client.ID)
		}
		if err == nil && p.cfg.CORSIntrospection {
			p.allowOrigin(w, r, &client.Client)
		}
		if err == nil && client.Public {
			err = oauth.InvalidClient.Hint("Public clients cannot introspect tokens.")
		}
		if err == nil {
			err = p.checkClientAddr(w, r, client)
		}
		if err != nil {
			p.setRetryAfter(w, err)
			p.writeTokenError(ctx, w, nil, err)
			return
		}
		token := r.PostForm.Get("token")
		if token == "" {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "The token parameter is missing.")
			return
		}
		info, err := p.introspect(ctx, token, oauth.TokenUse(r.PostForm.Get("token_type_hint")))
		if err != nil {
			if oauth.Translate(err).Status == http.StatusServiceUnavailable {
				p.writeTokenError(ctx, w, nil, err)
				return
			}
			writeInactive(w)
			return
		}
		if !mayIntrospect(client, info) {
			writeInactive(w)
			return
		}
		resp := info.introspection()
		writeJSONBody(w, http.StatusOK, resp.appendJSON(make([]byte, 0, 512)))
	})
	ep := p.tel.endpoint("introspect")
	if !p.cfg.CORSIntrospection {
		return p.instrument(ep, h)
	}
	return p.instrument(ep, p.withCORS(http.MethodPost, h))
}

// writeInactive writes the answer for a token the caller may not see or
// that is not valid: the two must be indistinguishable.
func writeInactive(w http.ResponseWriter) {
	writeJSONBody(w, http.StatusOK, []byte(inactiveBody))
}

// inactiveBody is what writeJSON wrote for {"active": false}.
const inactiveBody = `{"active":false}` + "\n"

// mayIntrospect reports whether caller, an authenticated client, may see
// the token that info describes: its own token, or an access token whose
// granted audience includes one of caller's IntrospectAudiences. Refresh
// tokens concern their client alone.
func mayIntrospect(caller *oauth.Client, info TokenInfo) bool {
	if info.ClientID != "" && info.ClientID == caller.ID {
		return true
	}
	if info.Type != string(oauth.AccessToken) {
		return false
	}
	return slices.ContainsFunc(info.Audience, func(a string) bool {
		return slices.Contains(caller.IntrospectAudiences, a)
	})
}

// introspect validates token (opaque or JWT, access or refresh) against
// storage, so revocation takes effect at once.
func (p *Provider) introspect(ctx context.Context, token string, hint oauth.TokenUse) (TokenInfo, error) {
	t, err := p.engine.Introspect(ctx, token, hint)
	if err != nil {
		return TokenInfo{}, err
	}
	s := t.Session
	if t.Use == oauth.RefreshToken && s.LoginSID != "" {
		c, err := p.engine.Client(ctx, t.ClientID)
		if err != nil {
			return TokenInfo{}, err
		}
		if err := p.recheckRefreshSignIn(ctx, &c.Client, s.GetSubject(), s); err != nil {
			return TokenInfo{}, err
		}
	}
	info := TokenInfo{
		Type:      string(t.Use),
		Subject:   s.GetSubject(),
		Username:  s.GetUsername(),
		ClientID:  t.ClientID,
		Scopes:    t.Scopes,
		Audience:  t.Audience,
		IssuedAt:  t.IssuedAt,
		ExpiresAt: s.Expiry(t.Use),
		Issuer:    p.cfg.Issuer,
		JWT:       oauth.IsJWT(token),
		requestID: t.RequestID,
		session:   s,
		AuthTime:  s.AuthTime(),
		AMR:       slices.Clone(s.AMR()), // s may be shared (oauth.Token.Session)
		ACR:       s.ACR(),
	}
	info.Tenant = tenantOf(s.Tenant)
	info.ClientIP = s.ClientIP
	info.PrincipalType = oauth.PrincipalType(s)
	info.APIKeyID = s.APIKeyID
	return info, nil
}

// introspectionResponse is an active token's RFC 7662 §2.2 answer.
type introspectionResponse struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	Customer  string   `json:"customer_id,omitempty"`
	ClientIP  string   `json:"client_ip,omitempty"`
	// PrincipalType is "user" or "application" (an application user) for
	// a token with a subject.
	PrincipalType string `json:"principal_type,omitempty"`
}

// appendJSON appends what json.NewEncoder(w).Encode(r) writes (the
// trailing newline included), without reflection: introspection is a
// resource server's call on every request it serves.
func (r *introspectionResponse) appendJSON(b []byte) []byte {
	o := jsonw.Object{B: append(b, '{')}
	o.Bool("active", r.Active)
	o.Str("scope", r.Scope)
	o.StrAlways("client_id", r.ClientID)
	o.Str("username", r.Username)
	o.StrAlways("token_type", r.TokenType)
	o.Int("exp", r.Exp)
	o.Int("iat", r.Iat)
	o.Str("sub", r.Sub)
	o.List("aud", r.Aud)
	o.StrAlways("iss", r.Iss)
	o.Int("auth_time", r.AuthTime)
	o.List("amr", r.AMR)
	o.Str("acr", r.ACR)
	o.Str("customer_id", r.Customer)
	o.Str("client_ip", r.ClientIP)
	o.Str("principal_type", r.PrincipalType)
	return append(o.B, '}', '\n')
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (i TokenInfo) introspection() introspectionResponse {
	r := introspectionResponse{
		Active:    true,
		Scope:     strings.Join(i.Scopes, " "),
		ClientID:  i.ClientID,
		Username:  i.Username,
		TokenType: "Bearer",
		Exp:       unixOrZero(i.ExpiresAt),
		Iat:       unixOrZero(i.IssuedAt),
		Sub:       i.Subject,
		Aud:       i.Audience,
		Iss:       i.Issuer,
		AuthTime:  unixOrZero(i.AuthTime),
		AMR:       i.AMR,
		ACR:       i.ACR,
		ClientIP:  i.ClientIP,

		PrincipalType: i.PrincipalType,
	}
	if i.Tenant != nil {
		r.Customer = i.Tenant.ID
	}
	if i.Type == string(oauth.RefreshToken) {
		r.TokenType = "refresh_token"
	}
	return r
}

// hasClientCredentials reports whether the request carries any form of
// client authentication (Basic, client_secret_post or a client assertion).
func hasClientCredentials(ctx context.Context, r *http.Request) bool {
	if _, _, ok := oauth.BasicAuth(ctx, r); ok {
		return true
	}
	return r.PostForm.Get("client_id") != "" || r.PostForm.Get("client_assertion") != ""
}

// checkClientAddr refuses a client used from outside its IP ranges
// (invalid_client), and a request whose address cannot be determined.
func (p *Provider) checkClientAddr(w http.ResponseWriter, r *http.Request, c *oauth.Client) error {
	addr, err := p.clientAddr(r)
	if err != nil {
		return err
	}
	if !c.AllowedFrom(addr) {
		return p.refuseIP(r.Context(), w, oauth.InvalidClient, c)
	}
	return nil
}
