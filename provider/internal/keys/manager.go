// Package keys manages the provider's signing keys: creation, rotation with
// publish-ahead and retire-after, the public JWKS, JWS verification by kid,
// and the current signing key (which the oauth package signs fosite's
// tokens with).
//
// Keys live in a storage.KeyStore so that every replica signs with the same
// key and publishes the same set. A Manager caches the parsed keys and
// re-reads the store after Options.CacheTTL, or at once (rate-limited) when
// it meets a kid it does not know.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/storage"
)

// Options configure a [Manager].
type Options struct {
	// Algorithm is "ES256" (the default when empty) or "RS256".
	Algorithm string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxTokenLifetime is the longest lifetime of anything signed; a retired
	// key stays published this long after it stops signing. Zero means 24h.
	MaxTokenLifetime time.Duration
	// CacheTTL is how long the key list is cached; zero means 30s.
	CacheTTL time.Duration
}

// key is a parsed signing key.
type key struct {
	rec    storage.SigningKey
	signer crypto.Signer
	public jose.JSONWebKey
}

// Manager holds the signing keys. It is safe for concurrent use.
type Manager struct {
	store storage.KeyStore
	opts  Options

	mu         sync.RWMutex
	keys       []*key // oldest first
	loadedAt   time.Time
	lastReload time.Time // of a reload forced by an unknown kid
}

// NewManager returns a Manager over store.
func NewManager(store storage.KeyStore, opts Options) *Manager {
	if opts.Algorithm == "" {
		opts.Algorithm = "ES256"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxTokenLifetime <= 0 {
		opts.MaxTokenLifetime = 24 * time.Hour
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 30 * time.Second
	}
	return &Manager{store: store, opts: opts}
}

// reload reads every key from the store.
func (m *Manager) reload(ctx context.Context) error {
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	m.mu.RLock()
	old := make(map[string]*key, len(m.keys))
	for _, k := range m.keys {
		old[k.rec.ID] = k
	}
	m.mu.RUnlock()
	parsed := make([]*key, 0, len(recs))
	for _, r := range recs {
		if k, ok := old[r.ID]; ok {
			parsed = append(parsed, &key{rec: r, signer: k.signer, public: k.public})
			continue
		}
		k, err := parse(r)
		if err != nil {
			return err
		}
		parsed = append(parsed, k)
	}
	m.mu.Lock()
	m.keys = parsed
	m.loadedAt = m.opts.Now()
	m.mu.Unlock()
	return nil
}

func parse(r storage.SigningKey) (*key, error) {
	priv, err := x509.ParsePKCS8PrivateKey(r.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("keys: parse key %q: %w", r.ID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %q is a %T, not a signing key", r.ID, priv)
	}
	switch r.Algorithm {
	case "ES256":
		if k, ok := priv.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("keys: key %q: ES256 needs a P-256 key", r.ID)
		}
	case "RS256":
		if _, ok := priv.(*rsa.PrivateKey); !ok {
			return nil, fmt.Errorf("keys: key %q: RS256 needs an RSA key", r.ID)
		}
	default:
		return nil, fmt.Errorf("keys: key %q: unsupported algorithm %q", r.ID, r.Algorithm)
	}
	return &key{rec: r, signer: signer, public: jose.JSONWebKey{
		Key: signer.Public(), KeyID: r.ID, Algorithm: r.Algorithm, Use: "sig",
	}}, nil
}

// snapshot returns the cached keys, reloading them when the cache is stale.
func (m *Manager) snapshot(ctx context.Context) ([]*key, error) {
	m.mu.RLock()
	keys, fresh := m.keys, m.opts.Now().Sub(m.loadedAt) < m.opts.CacheTTL && m.keys != nil
	m.mu.RUnlock()
	if fresh {
		return keys, nil
	}
	if err := m.reload(ctx); err != nil {
		if keys != nil {
			return keys, nil // serve the last good set while the store is away
		}
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.keys, nil
}

func (m *Manager) signsAt(k *key, now time.Time) bool {
	return !k.rec.ActiveAt.After(now) && (k.rec.RetiredAt.IsZero() || k.rec.RetiredAt.After(now))
}

func published(k *key, now time.Time) bool {
	return k.rec.ExpiresAt.IsZero() || k.rec.ExpiresAt.After(now)
}

// current returns the key that signs now: the most recently activated one.
func (m *Manager) current(ctx context.Context) (*key, error) {
	keys, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	now := m.opts.Now()
	var best *key
	for _, k := range keys {
		if m.signsAt(k, now) && (best == nil || !k.rec.ActiveAt.Before(best.rec.ActiveAt)) {
			best = k
		}
	}
	if best == nil {
		return nil, errors.New("keys: no signing key is active; call Ensure at startup")
	}
	return best, nil
}

// lookup returns the published key with that kid, reloading once (at most
// once a second) when it is unknown.
func (m *Manager) lookup(ctx context.Context, kid string) (*key, error) {
	find := func(keys []*key) *key {
		now := m.opts.Now()
		for _, k := range keys {
			if k.rec.ID == kid && published(k, now) {
				return k
			}
		}
		return nil
	}
	keys, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if k := find(keys); k != nil {
		return k, nil
	}
	m.mu.Lock()
	allowed := m.opts.Now().Sub(m.lastReload) >= time.Second
	if allowed {
		m.lastReload = m.opts.Now()
	}
	m.mu.Unlock()
	if allowed {
		if err := m.reload(ctx); err == nil {
			m.mu.RLock()
			k := find(m.keys)
			m.mu.RUnlock()
			if k != nil {
				return k, nil
			}
		}
	}
	return nil, fmt.Errorf("keys: unknown or expired key id %q", kid)
}

func (m *Manager) generate(activeAt time.Time) (storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch m.opts.Algorithm {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return storage.SigningKey{}, fmt.Errorf("keys: unsupported algorithm %q", m.opts.Algorithm)
	}
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("keys: generate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("keys: encode: %w", err)
	}
	now := m.opts.Now().UTC()
	return storage.SigningKey{
		ID:         rand.Text()[:16],
		Algorithm:  m.opts.Algorithm,
		PrivateKey: der,
		CreatedAt:  now,
		ActiveAt:   activeAt.UTC(),
	}, nil
}

// Ensure makes sure a key that may sign now exists, creating one if none
// does. Several replicas calling it at once may each create a key; that is
// harmless (the newest signs, all are published).
func (m *Manager) Ensure(ctx context.Context) error {
	if err := m.reload(ctx); err != nil {
		return err
	}
	if _, err := m.current(ctx); err == nil {
		return nil
	}
	k, err := m.generate(m.opts.Now())
	if err != nil {
		return err
	}
	if err := m.store.CreateSigningKey(ctx, k); err != nil {
		return fmt.Errorf("keys: store new key: %w", err)
	}
	return m.reload(ctx)
}

// Rotate creates a key that is published at once and signs from
// now+publishAhead on. Every key signing until then is retired at that
// moment and leaves the JWKS MaxTokenLifetime later. It returns the new
// key's ID.
func (m *Manager) Rotate(ctx context.Context, publishAhead time.Duration) (string, error) {
	if publishAhead < 0 {
		return "", errors.New("keys: publishAhead must not be negative")
	}
	activeAt := m.opts.Now().Add(publishAhead).UTC()
	k, err := m.generate(activeAt)
	if err != nil {
		return "", err
	}
	if err := m.reload(ctx); err != nil {
		return "", err
	}
	m.mu.RLock()
	existing := m.keys
	m.mu.RUnlock()
	if err := m.store.CreateSigningKey(ctx, k); err != nil {
		return "", fmt.Errorf("keys: store new key: %w", err)
	}
	for _, old := range existing {
		if !old.rec.RetiredAt.IsZero() && !old.rec.RetiredAt.After(activeAt) {
			continue
		}
		err := m.store.UpdateSigningKey(ctx, old.rec.ID, func(r storage.SigningKey) (storage.SigningKey, error) {
			r.RetiredAt = activeAt
			r.ExpiresAt = activeAt.Add(m.opts.MaxTokenLifetime)
			return r, nil
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return "", fmt.Errorf("keys: retire key %q: %w", old.rec.ID, err)
		}
	}
	if err := m.reload(ctx); err != nil {
		return "", err
	}
	return k.ID, nil
}

// States counts the keys as this Manager last read them, at now: pending
// (published, signing from a later ActiveAt), active (signing now) and
// retired (no longer signing, published until the tokens they signed
// expire). Keys no longer published are not counted. It reads no store.
func (m *Manager) States() (pending, active, retired int) {
	m.mu.RLock()
	keys := m.keys
	m.mu.RUnlock()
	now := m.opts.Now()
	for _, k := range keys {
		switch {
		case !published(k, now):
		case k.rec.ActiveAt.After(now):
			pending++
		case m.signsAt(k, now):
			active++
		default:
			retired++
		}
	}
	return pending, active, retired
}

// PublicJWKS returns the keys to publish: every key not yet expired, public
// parts only, each with kid, use and alg.
func (m *Manager) PublicJWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	keys, err := m.snapshot(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	now := m.opts.Now()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		if published(k, now) {
			set.Keys = append(set.Keys, k.public)
		}
	}
	return set, nil
}

// allowedAlgs are the only JWS algorithms Verify accepts.
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256}

// Verify checks a compact JWS signed by one of the published keys, chosen
// by its kid, and returns its payload and protected header. It never
// accepts "none" or HMAC algorithms, and the header's alg must be the key's.
// It does not check claims.
func (m *Manager) Verify(ctx context.Context, token string) ([]byte, jose.Header, error) {
	jws, err := jose.ParseSigned(token, allowedAlgs)
	if err != nil {
		return nil, jose.Header{}, fmt.Errorf("keys: parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, jose.Header{}, errors.New("keys: token must have exactly one signature")
	}
	hdr := jws.Signatures[0].Protected
	k, err := m.lookup(ctx, hdr.KeyID)
	if err != nil {
		return nil, hdr, err
	}
	if hdr.Algorithm != k.rec.Algorithm {
		return nil, hdr, fmt.Errorf("keys: token alg %q does not match key %q (%s)", hdr.Algorithm, k.rec.ID, k.rec.Algorithm)
	}
	payload, err := jws.Verify(k.signer.Public())
	if err != nil {
		return nil, hdr, fmt.Errorf("keys: verify: %w", err)
	}
	return payload, hdr, nil
}

// SigningKey is a key that signs: its ID (the JWS kid), its algorithm
// ("ES256" or "RS256") and the private key.
type SigningKey struct {
	ID        string
	Algorithm string
	Key       crypto.Signer
}

// Current returns the key that signs now.
func (m *Manager) Current(ctx context.Context) (SigningKey, error) {
	k, err := m.current(ctx)
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: k.rec.ID, Algorithm: k.rec.Algorithm, Key: k.signer}, nil
}

// Lookup returns the published key with ID kid, reloading the store (rate
// limited) when kid is unknown. Only its public half is for verifying.
func (m *Manager) Lookup(ctx context.Context, kid string) (SigningKey, error) {
	k, err := m.lookup(ctx, kid)
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: k.rec.ID, Algorithm: k.rec.Algorithm, Key: k.signer}, nil
}
