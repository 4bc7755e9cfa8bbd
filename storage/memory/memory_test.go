package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
	"github.com/gatehouse/gatehouse/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return memory.New()
	})
}

func TestConformanceZeroValue(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return &memory.Store{}
	})
}

// The rest is what the memory store promises beyond the contract.

func TestUpdateKeepsID(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c", Name: "before"}))
	require.NoError(t, s.UpdateClient(ctx, "c", func(c storage.Client) (storage.Client, error) {
		return storage.Client{ID: "other", Name: "after"}, nil
	}))
	list, err := s.ListClients(ctx)
	require.NoError(t, err)
	assert.Equal(t, []storage.Client{{ID: "c", Name: "after"}}, list, "update changes the record, never its ID")

	require.NoError(t, s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "f"}))
	require.NoError(t, s.UpdateAuthFlow(ctx, "f", func(f storage.AuthFlow) (storage.AuthFlow, error) {
		f.ID = "other"
		return f, nil
	}))
	_, err = s.GetAuthFlow(ctx, "other")
	assert.ErrorIs(t, err, storage.ErrNotFound)

	require.NoError(t, s.CreateSigningKey(ctx, storage.SigningKey{ID: "k"}))
	require.NoError(t, s.UpdateSigningKey(ctx, "k", func(k storage.SigningKey) (storage.SigningKey, error) {
		k.ID = "other"
		return k, nil
	}))
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []storage.SigningKey{{ID: "k"}}, keys)
}

func TestUpdateCalledOnceAndErrorReturnedAsIs(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c"}))
	boom := errors.New("boom")
	calls := 0
	err := s.UpdateClient(ctx, "c", func(c storage.Client) (storage.Client, error) {
		calls++
		return c, boom
	})
	assert.Same(t, boom, err, "update's error is returned unwrapped")
	assert.Equal(t, 1, calls)

	calls = 0
	err = s.UpdateClient(ctx, "missing", func(c storage.Client) (storage.Client, error) {
		calls++
		return c, nil
	})
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.Zero(t, calls, "update is not called for a missing record")
}

func TestContextErrorReturnedAsIs(t *testing.T) {
	s := memory.New()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.GetClient(ctx, "c")
	assert.Same(t, context.Canceled, err)
	_, err = s.DeleteExpired(ctx, time.Time{})
	assert.Same(t, context.Canceled, err)
}

func TestErrorsNameTheRecord(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	_, err := s.GetClient(ctx, "app-1")
	assert.EqualError(t, err, `memory: get client "app-1": storage: not found`)
	err = s.RotateRefreshToken(ctx, "sig", time.Now())
	assert.EqualError(t, err, `memory: rotate refresh token "sig": storage: not found`)
	_, err = s.GetToken(ctx, storage.KindPKCE, "sig")
	assert.EqualError(t, err, `memory: get pkce "sig": storage: not found`)
}
