package memory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// tokenModel is what the store's token methods should hold: a plain map,
// for TestTokensAgainstModel.
type tokenModel map[[2]string]storage.Token

// TestTokensAgainstModel runs tens of thousands of random token operations
// (create, get, delete, rotate, revoke a family, list a subject's grants,
// sweep) on a store and on a plain map, and checks after each that the two
// agree. The records are of every size, a chunk of their own included;
// their expiries are mixed, so that sweeps release chunks and move the
// records out of sparse ones; signatures are of both key forms. Whatever
// the arena and the indexes do underneath, every read must give back what
// was written.
func TestTokensAgainstModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { runTokenModel(t, seed, 12_000) })
	}
}

func runTokenModel(t *testing.T, seed uint64, ops int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 18))
	s := New()
	model := tokenModel{}
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clock := start
	kinds := []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken, storage.KindAuthCode}
	sigs := make([]string, 600)
	for i := range sigs {
		if i%3 == 0 {
			sigs[i] = fmt.Sprintf("custom-signature-%d", i) // kept as its digest
		} else {
			sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
			sigs[i] = base64.RawURLEncoding.EncodeToString(sum[:]) // kept decoded
		}
	}
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	families := []string{"f1", "f2", "f3", "f4", // kept as text
		"0b7c6d2e-8f1a-4c3b-9d5e-6f7a8b9c0d1e", "5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170", // as 16 bytes
		"0B7C6D2E-8F1A-4C3B-9D5E-6F7A8B9C0D1E", // uppercase: not canonical, as text
		"ffffffff-ffff-ffff-ffff-ffffffffffff"}
	subjects := []string{"", "", "alice", "bob", "carol"}

	newToken := func() storage.Token {
		kind := kinds[rng.IntN(len(kinds))]
		session := bytes.Repeat([]byte{'s'}, rng.IntN(300))
		if rng.IntN(50) == 0 {
			session = bytes.Repeat([]byte{'L'}, ownChunk+rng.IntN(4000)) // a chunk of its own
		}
		life := time.Duration(1+rng.IntN(120)) * time.Minute
		if rng.IntN(10) == 0 {
			life = 30 * 24 * time.Hour // outlives its neighbours: its chunk goes sparse
		}
		tok := storage.Token{
			Signature: pick(sigs),
			Kind:      kind,
			Request: storage.Request{
				ID:              pick(families),
				RequestedAt:     clock,
				ClientID:        "svc",
				Subject:         pick(subjects),
				RequestedScopes: []string{"a", "b"},
				GrantedScopes:   []string{"a"},
				Form:            map[string][]string{"grant_type": {"x"}},
				Session:         session,
			},
			ExpiresAt: clock.Add(life),
			CreatedAt: clock,
			Active:    true,
		}
		if kind == storage.KindRefreshToken && rng.IntN(2) == 0 {
			tok.AccessSignature = pick(sigs)
		}
		return tok
	}

	for op := range ops {
		clock = clock.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		kind, sig := kinds[rng.IntN(len(kinds))], pick(sigs)
		key := [2]string{string(kind), sig}
		where := fmt.Sprintf("op %d", op)
		switch r := rng.IntN(100); {
		case r < 45:
			tok := newToken()
			k := [2]string{string(tok.Kind), tok.Signature}
			err := s.CreateToken(ctx, tok)
			if _, exists := model[k]; exists {
				require.ErrorIs(t, err, storage.ErrAlreadyExists, where)
			} else {
				require.NoError(t, err, where)
				model[k] = tok
			}
		case r < 65:
			got, err := s.GetToken(ctx, kind, sig)
			want, ok := model[key]
			if !ok {
				require.ErrorIs(t, err, storage.ErrNotFound, where)
				break
			}
			require.NoError(t, err, where)
			require.Equal(t, want, got, where)
		case r < 72:
			err := s.DeleteToken(ctx, kind, sig)
			if _, ok := model[key]; ok {
				require.NoError(t, err, where)
				delete(model, key)
			} else {
				require.ErrorIs(t, err, storage.ErrNotFound, where)
			}
		case r < 77:
			k := [2]string{string(storage.KindRefreshToken), sig}
			err := s.RotateRefreshToken(ctx, sig, clock)
			want, ok := model[k]
			switch {
			case !ok:
				require.ErrorIs(t, err, storage.ErrNotFound, where)
			case !want.Active:
				require.ErrorIs(t, err, storage.ErrAlreadyUsed, where)
			default:
				require.NoError(t, err, where)
				want.Active, want.RotatedAt = false, clock
				model[k] = want
				if want.AccessSignature != "" {
					delete(model, [2]string{string(storage.KindAccessToken), want.AccessSignature})
				}
			}
		case r < 82:
			family := pick(families)
			require.NoError(t, s.RevokeFamily(ctx, kind, family), where)
			for k, tok := range model {
				if tok.Kind == kind && tok.Request.ID == family {
					tok.Active = false
					model[k] = tok
				}
			}
		case r < 87:
			subject := pick(subjects[2:])
			got, err := s.ListGrants(ctx, subject, clock)
			require.NoError(t, err, where)
			clients := 0
			for _, tok := range model {
				if tok.Request.Subject == subject && tok.Active && clock.Before(tok.ExpiresAt) &&
					(tok.Kind == storage.KindAccessToken || tok.Kind == storage.KindRefreshToken) {
					clients = 1 // one client, "svc"
					break
				}
			}
			require.Len(t, got, clients, where)
		default:
			cut := clock.Add(-time.Duration(rng.IntN(60)) * time.Minute)
			n, err := s.DeleteExpired(ctx, cut)
			require.NoError(t, err, where)
			var want int64
			for k, tok := range model {
				if tok.ExpiresAt.Before(cut) {
					delete(model, k)
					want++
				}
			}
			require.Equal(t, want, n, where)
		}
	}
	// Every token reads back as the model holds it, and nothing else is
	// there; the arena holds no more than a few times what lives.
	live := 0
	for k, want := range model {
		got, err := s.GetToken(ctx, storage.TokenKind(k[0]), k[1])
		require.NoError(t, err)
		require.Equal(t, want, got)
		live += len(want.Request.Session) + 64
	}
	require.Len(t, s.tokens, len(model))
	for _, kind := range kinds {
		for _, sig := range sigs {
			if _, ok := model[[2]string{string(kind), sig}]; !ok {
				_, err := s.GetToken(ctx, kind, sig)
				require.True(t, errors.Is(err, storage.ErrNotFound), "%s %q: %v", kind, sig, err)
			}
		}
	}
	_, err := s.DeleteExpired(ctx, start) // moves what the last sweeps left sparse
	require.NoError(t, err)
	_, err = s.DeleteExpired(ctx, start)
	require.NoError(t, err)
	require.LessOrEqual(t, arenaBytes(&s.recs), 4*live+2*chunkSize, "the arena stays within a few times its live records")
	require.False(t, slices.ContainsFunc(s.recs.live, func(n int) bool { return n < 0 }), "no chunk counts fewer than zero live bytes")
}
