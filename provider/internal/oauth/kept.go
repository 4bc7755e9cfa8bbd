package oauth

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse/gatehouse/storage"
)

// Introspection is a resource server's call on every request it serves,
// mostly for the same few tokens; reading a token back from the store and
// decoding its session was half of what an introspection cost. With a
// store that is a storage.TokenStatusReader (one in the provider's own
// process), the Store keeps the access tokens it has decoded for
// [Engine.Introspect] and, at the next introspection of one, asks the store
// only whether it is still stored and active: a revocation or a deletion is
// seen at once, as before, and nothing else about a stored access token
// ever changes (see storage.TokenStatusReader).
//
// A kept token's record and session are shared by every introspection that
// finds it, on any goroutine: nothing may change them. [Engine.Introspect]
// is the only reader (Request.sharedReads), and its [Token] says so.

// maxKept bounds the kept tokens; once it is reached they are dropped all
// at once and kept again as they are introspected.
const maxKept = 4096

// keptTokens is the Store's kept access tokens, by signature.
type keptTokens struct {
	m atomic.Pointer[keptMap]
}

type keptMap struct {
	m sync.Map // signature -> *keptToken
	n atomic.Int64
}

// keptToken is an access token as its first introspection decoded it.
type keptToken struct {
	rec     storage.Request
	session *Session
	expires time.Time
}

func (k *keptTokens) get(sig string) *keptToken {
	m := k.m.Load()
	if m == nil {
		return nil
	}
	v, ok := m.m.Load(sig)
	if !ok {
		return nil
	}
	return v.(*keptToken)
}

func (k *keptTokens) put(sig string, t *keptToken) {
	m := k.m.Load()
	if m == nil || m.n.Load() >= maxKept {
		fresh := &keptMap{}
		if !k.m.CompareAndSwap(m, fresh) {
			return // another goroutine replaced it: this token waits for the next time
		}
		m = fresh
	}
	if _, loaded := m.m.LoadOrStore(sig, t); !loaded {
		m.n.Add(1)
	}
}

func (k *keptTokens) drop(sig string) {
	if m := k.m.Load(); m != nil {
		if _, loaded := m.m.LoadAndDelete(sig); loaded {
			m.n.Add(-1)
		}
	}
}

// getKept is get for an access token read by Engine.Introspect from a
// store with TokenStatus: a kept token is checked, any other read and kept
// if it is active.
func (s *Store) getKept(ctx context.Context, st storage.TokenStatusReader, state *Request, sig string, session fosite.Session) (fosite.Requester, error) {
	k := s.kept.get(sig)
	if k == nil {
		t, req, err := s.read(ctx, storage.KindAccessToken, sig, session, fosite.ErrInactiveToken)
		if sess, ok := session.(*Session); ok && err == nil && sess != nil {
			s.kept.put(sig, &keptToken{rec: t.Request, session: sess, expires: t.ExpiresAt})
		}
		return req, err
	}
	found, active, err := st.TokenStatus(ctx, storage.KindAccessToken, sig)
	switch {
	case err != nil:
		return nil, s.mapErr(err)
	case !found:
		s.kept.drop(sig)
		return nil, s.mapErr(fmt.Errorf("oauth: %s %q: %w", storage.KindAccessToken, sig, storage.ErrNotFound))
	case !s.Now().Before(k.expires):
		return nil, fosite.ErrNotFound.WithHint("The token has expired.")
	}
	c, err := s.client(ctx, k.rec.ClientID)
	if err != nil {
		return nil, err
	}
	state.noteLoaded(k.rec)
	req := requestOfRecord(k.rec, c, k.session)
	if !active {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}
