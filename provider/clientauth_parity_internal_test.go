package provider

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// authenticateClient answers a secret that matched cheaply without the
// engine's own check of it. It must answer every request as the engine
// (fosite's strategy) does: the same client accepted, the same refused,
// for each secret method registered and sent, a host-chosen (bcrypt)
// secret before and after its digest is cached, a rotated secret in its
// grace period, a wrong or missing secret, a public client, and a client
// sending the client ID of another.
func TestClientAuthenticationAsTheEngine(t *testing.T) {
	ctx := context.Background()
	p, err := New(Config{Issuer: "http://127.0.0.1:9", Store: memory.New(),
		Authenticator: UserAuthenticatorFunc(func(context.Context, string, string) (User, error) {
			return User{}, ErrInvalidCredentials
		}),
		Logger:            slog.New(slog.NewJSONHandler(io.Discard, nil)),
		ClientAuthLockout: Lockout{MaxFailures: 1000}, // this test compares answers, not the lockout
	})
	require.NoError(t, err)
	svc := func(id, method string) storage.Client {
		return storage.Client{ID: id, GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}, TokenEndpointAuthMethod: method}
	}
	secrets := map[string]string{}
	for _, m := range []string{"client_secret_basic", "client_secret_post"} {
		_, plain, err := p.CreateClient(ctx, svc("gen-"+m, m))
		require.NoError(t, err)
		secrets["gen-"+m] = plain
		secrets["host-"+m] = "host-chosen-secret-for-" + m
		_, err = p.CreateClientWithSecret(ctx, svc("host-"+m, m), secrets["host-"+m])
		require.NoError(t, err)
	}
	_, old, err := p.CreateClient(ctx, svc("rotated", "client_secret_basic"))
	require.NoError(t, err)
	current, err := p.RotateClientSecret(ctx, "rotated", time.Hour)
	require.NoError(t, err)
	_, _, err = p.CreateClient(ctx, storage.Client{ID: "spa", Public: true, TokenEndpointAuthMethod: "none",
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, RedirectURIs: []string{"http://127.0.0.1:9/cb"}, Scopes: []string{"read"}})
	require.NoError(t, err)

	type cred struct{ id, secret string }
	var creds []cred
	for id, s := range secrets {
		creds = append(creds, cred{id, s}, cred{id, s + "x"}, cred{id, ""}, cred{id, strings.ToUpper(s)})
	}
	creds = append(creds, cred{"rotated", old}, cred{"rotated", current}, cred{"rotated", "wrong"},
		cred{"spa", ""}, cred{"nobody", "secret"}, cred{"gen-client_secret_basic", secrets["gen-client_secret_post"]})

	request := func(c cred, basic bool) (*http.Request, url.Values) {
		form := url.Values{"grant_type": {"client_credentials"}}
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9/oauth2/token", nil)
		if basic {
			r.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
		} else {
			form.Set("client_id", c.id)
			if c.secret != "" {
				form.Set("client_secret", c.secret)
			}
		}
		return r, form
	}
	accepted := 0
	for round := range 2 { // the second round finds the bcrypt digests cached
		for _, c := range creds {
			for _, basic := range []bool{true, false} {
				r, form := request(c, basic)
				want, wantErr := p.engine.AuthenticateClientDirectly(ctx, r, form)
				got, gotErr := p.authenticateClient(ctx, r, form)
				name := c.id + " " + map[bool]string{true: "basic", false: "post"}[basic]
				if wantErr != nil {
					assert.Error(t, gotErr, "round %d, %s, secret %q: the engine refuses it", round, name, c.secret)
					continue
				}
				if assert.NoError(t, gotErr, "round %d, %s, secret %q: the engine accepts it", round, name, c.secret) {
					assert.Equal(t, want.ID, got.ID)
					accepted++
				}
			}
		}
	}
	assert.Equal(t, 2*(2*len(secrets)+2*2+2), accepted, "each right secret by either method, both of the rotated client's, the public client's ID by either")
}
