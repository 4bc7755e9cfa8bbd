package provider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage/memory"
)

func deviceTestProvider(t *testing.T, global []byte, rotated ...[]byte) *Provider {
	t.Helper()
	p, err := New(Config{
		Issuer: "https://id.example.com/auth",
		Store:  memory.New(),
		Authenticator: UserAuthenticatorFunc(func(context.Context, string, string) (User, error) {
			return User{}, ErrInvalidCredentials
		}),
		GlobalSecret:         global,
		RotatedGlobalSecrets: rotated,
	})
	require.NoError(t, err)
	return p
}

// issueDeviceCookie returns the cookie p sets for username.
func issueDeviceCookie(t *testing.T, p *Provider, username string) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	p.setDeviceCookie(rec, username)
	cs := rec.Result().Cookies()
	require.Len(t, cs, 1)
	return cs[0]
}

func presenting(c *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://id.example.com/auth/oauth2/interaction", nil)
	r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	return r
}

// The cookie's attributes follow the issuer: Secure on https, the issuer's
// path; its lifetime is DeviceCookieLifetime.
func TestDeviceCookieAttributes(t *testing.T) {
	p := deviceTestProvider(t, []byte("0123456789abcdef0123456789abcdef"))
	c := issueDeviceCookie(t, p, "alice")
	assert.True(t, c.Secure)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/auth", c.Path)
	assert.Equal(t, int((90 * 24 * time.Hour).Seconds()), c.MaxAge)
	assert.True(t, strings.HasPrefix(c.Name, deviceCookiePrefix))
	assert.NotEqual(t, c.Name, issueDeviceCookie(t, p, "bob").Name, "one cookie per username")
	assert.Equal(t, c.Name, issueDeviceCookie(t, p, " Alice").Name, "of the normalised username")
	assert.NotEqual(t, c.Value, issueDeviceCookie(t, p, "alice").Value, "a fresh nonce each time")
}

// A replica with the same GlobalSecret accepts the cookie; after a
// rotation, a cookie under a secret in RotatedGlobalSecrets is still
// accepted; a replica that has neither does not.
func TestDeviceCookieSecrets(t *testing.T) {
	old, current := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	c := issueDeviceCookie(t, deviceTestProvider(t, old), "alice")

	nonce, ok := deviceTestProvider(t, old).deviceCookie(presenting(c), "alice")
	assert.True(t, ok, "a replica sharing the secret")
	assert.Len(t, nonce, deviceNonceLen)
	_, ok = deviceTestProvider(t, current, old).deviceCookie(presenting(c), "alice")
	assert.True(t, ok, "after a rotation")
	_, ok = deviceTestProvider(t, current).deviceCookie(presenting(c), "alice")
	assert.False(t, ok, "another secret")
	_, ok = deviceTestProvider(t, nil).deviceCookie(presenting(c), "alice")
	assert.False(t, ok, "a random secret")
	_, ok = deviceTestProvider(t, old).deviceCookie(presenting(c), "bob")
	assert.False(t, ok, "another username")

	// The derived key is not the global secret itself.
	p := deviceTestProvider(t, old)
	assert.NotEqual(t, old, p.deviceCookieKeys()[0])
}
