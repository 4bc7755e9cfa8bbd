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
// store that is a storage.StatusReader (one in the provider's own
// process), the Store keeps the access tokens it has decoded for
// [Engine.Introspect] and, at the next introspection of one, asks the store
// only whether it is still stored and active: a revocation or a deletion is
// seen at once, as before, and nothing else about a stored access token
// ever changes (see storage.StatusReader).
//
// A kept token's record and session are shared by every introspection that
// finds it, on any goroutine: nothing may change them. [Engine.Introspect]
// is the only reader (Request.sharedReads), and its [Token] says so.
//
// Every token, introspection and revocation request loads its client, and
// copying it out of the store and making its [Client] was a tenth of an
// introspection. With the same store, the Store keeps the clients it has
// made, each under the ClientsVersion it was read under, and uses one
// again while that number holds (no client written since) and its secrets
// are as they were (none of them expired since). A kept [Client] is shared
// like a kept token: nothing changes a Client once NewClient has made it.

// maxKept bounds the kept tokens, and the kept clients; once it is reached
// they are dropped all at once and kept again as they are used.
const maxKept = 4096

// kept is a map of what the Store keeps, by key (a token's signature, a
// client's ID), read without a lock.
type kept[T any] struct {
	m atomic.Pointer[keptMap[T]]
}

type keptMap[T any] struct {
	m sync.Map // key -> *T
	n atomic.Int64
}

func (k *kept[T]) get(key string) *T {
	m := k.m.Load()
	if m == nil {
		return nil
	}
	v, ok := m.m.Load(key)
	if !ok {
		return nil
	}
	return v.(*T)
}

// put keeps v under key, in place of what was kept under it.
func (k *kept[T]) put(key string, v *T) {
	m := k.m.Load()
	if m == nil || m.n.Load() >= maxKept {
		fresh := &keptMap[T]{}
		if !k.m.CompareAndSwap(m, fresh) {
			return // another goroutine replaced it: v waits for the next time
		}
		m = fresh
	}
	if _, loaded := m.m.Swap(key, v); !loaded {
		m.n.Add(1)
	}
}

func (k *kept[T]) drop(key string) {
	if m := k.m.Load(); m != nil {
		if _, loaded := m.m.LoadAndDelete(key); loaded {
			m.n.Add(-1)
		}
	}
}

// keptToken is an access token as its first introspection decoded it.
type keptToken struct {
	rec     storage.Request
	session *Session
	expires time.Time
}

// keptClient is a client as NewClient made it, while ClientsVersion
// returns version and until (when not zero) has not come: the first
// expiry of one of its secrets after it was made, when the secrets
// NewClient keeps change.
type keptClient struct {
	c       *Client
	version uint64
	until   time.Time
}

// keptClientMap is the kept clients, by ID.
type keptClientMap struct{ kept[keptClient] }

// get returns the client kept under id if it was kept under version and
// its secrets are as they were at now.
func (k *keptClientMap) get(id string, version uint64, now time.Time) *Client {
	c := k.kept.get(id)
	if c == nil || c.version != version || !c.until.IsZero() && !now.Before(c.until) {
		return nil
	}
	return c.c
}

// getKept is get for an access token read by Engine.Introspect from a
// store with TokenStatus: a kept token is checked, any other read and kept
// if it is active.
func (s *Store) getKept(ctx context.Context, st storage.StatusReader, state *Request, sig string, session fosite.Session) (fosite.Requester, error) {
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
