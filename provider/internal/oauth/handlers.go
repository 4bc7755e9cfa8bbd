package oauth

import (
	"context"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
)

// grantFiltered wraps a token endpoint handler of a known grant type so that
// requests of other grant types are turned away before the handler runs.
// fosite calls every handler's PopulateTokenEndpointResponse for every
// request, and each one that is not responsible answers with an error that
// captures a stack trace; on the client_credentials path that was an eighth
// of the CPU time.
type grantFiltered struct {
	fosite.TokenEndpointHandler
	grant string
}

// PopulateTokenEndpointResponse runs the handler only for its grant type.
func (g grantFiltered) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !r.GetGrantTypes().ExactOne(g.grant) {
		return fosite.ErrUnknownRequest
	}
	return g.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, r, resp)
}

// HandleTokenEndpointRequest runs the handler only for its grant type.
func (g grantFiltered) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !r.GetGrantTypes().ExactOne(g.grant) {
		return fosite.ErrUnknownRequest
	}
	return g.TokenEndpointHandler.HandleTokenEndpointRequest(ctx, r)
}

// FilterTokenHandlers wraps the token endpoint handlers of fosite v0.49.0
// whose grant type is fixed; others are kept as they are.
func FilterTokenHandlers(hs fosite.TokenEndpointHandlers) fosite.TokenEndpointHandlers {
	out := make(fosite.TokenEndpointHandlers, 0, len(hs))
	for _, h := range hs {
		grant := ""
		switch h.(type) {
		case *oauth2.AuthorizeExplicitGrantHandler, *openid.OpenIDConnectExplicitHandler, *pkce.Handler:
			grant = "authorization_code"
		case *oauth2.ClientCredentialsGrantHandler:
			grant = "client_credentials"
		case *oauth2.RefreshTokenGrantHandler, *openid.OpenIDConnectRefreshHandler:
			grant = "refresh_token"
		case *oauth2.ResourceOwnerPasswordCredentialsGrantHandler:
			grant = "password"
		}
		if grant == "" {
			out = append(out, h)
			continue
		}
		out = append(out, grantFiltered{TokenEndpointHandler: h, grant: grant})
	}
	return out
}
