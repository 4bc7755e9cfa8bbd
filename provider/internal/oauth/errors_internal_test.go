package oauth

import (
	"errors"
	"fmt"
	"testing"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/stretchr/testify/assert"

	"github.com/gatehouse/gatehouse/storage"
)

// TestCodeReuseIsNotRefreshRace checks the decision to revoke after a
// failed token response: only an authorization code lost to another
// exchange revokes; a lost refresh rotation never does.
func TestCodeReuseIsNotRefreshRace(t *testing.T) {
	code := &AccessRequest{ar: &fosite.AccessRequest{GrantTypes: fosite.Arguments{"authorization_code"}}}
	refresh := &AccessRequest{ar: &fosite.AccessRequest{GrantTypes: fosite.Arguments{"refresh_token"}}}
	wrapped := func(err error) error { return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()) }
	used := wrapped(fmt.Errorf("x: %w", storage.ErrAlreadyUsed))
	lost := fosite.ErrInvalidRequest.WithWrap(fosite.ErrSerializationFailure.WithWrap(storage.ErrAlreadyUsed))
	assert.True(t, IsCodeReuse(code, used))
	assert.True(t, IsCodeReuse(code, wrapped(fosite.ErrInvalidatedAuthorizeCode)))
	assert.False(t, IsCodeReuse(refresh, used), "a refresh is never code reuse")
	assert.False(t, IsCodeReuse(refresh, lost), "a lost rotation is not code reuse")
	assert.False(t, IsCodeReuse(code, lost))
	assert.False(t, IsCodeReuse(code, wrapped(fmt.Errorf("%w: x", ErrUnavailable))))
	assert.False(t, IsCodeReuse(nil, used))
	assert.False(t, IsCodeReuse(&AccessRequest{}, used))
}

// TestClientAuthError checks that what fosite returns bare from a failed
// client assertion (a go-jose error) is invalid_client, and that protocol
// errors and backend failures pass through.
func TestClientAuthError(t *testing.T) {
	bare := fmt.Errorf("%w: SECRET", jose.ErrCryptoFailure)
	got := translate(clientAuthError(bare))
	assert.Equal(t, "invalid_client", got.ErrorField)
	assert.Equal(t, "The client assertion could not be verified.", got.HintField)
	assert.ErrorIs(t, clientAuthError(bare), jose.ErrCryptoFailure, "the cause stays in the chain for the log")

	for _, err := range []error{nil, fosite.ErrInvalidGrant.WithHint("x"), fmt.Errorf("%w: down", ErrUnavailable)} {
		assert.Equal(t, err, clientAuthError(err))
	}
	assert.True(t, errors.Is(clientAuthError(fmt.Errorf("%w: down", ErrUnavailable)), ErrUnavailable))
}
