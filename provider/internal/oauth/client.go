package oauth

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/storage"
)

// Client adapts a storage.Client to the fosite client interfaces. Secrets
// that have expired at load time are left out.
type Client struct {
	storage.Client
	hashes [][]byte
	jwks   *jose3.JSONWebKeySet
	ips    ipfilter.List
	ipsBad bool // IPRanges did not parse: the client is usable from nowhere
}

var (
	_ fosite.Client                         = (*Client)(nil)
	_ fosite.OpenIDConnectClient            = (*Client)(nil)
	_ fosite.ClientWithSecretRotation       = (*Client)(nil)
	_ fosite.ClientWithCustomTokenLifespans = (*Client)(nil)
	_ fosite.ResponseModeClient             = (*Client)(nil)
)

// NewClient wraps c, keeping only the secrets still valid at now.
func NewClient(c storage.Client, now time.Time) *Client {
	fc := &Client{Client: c}
	for _, s := range c.Secrets {
		if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
			continue
		}
		fc.hashes = append(fc.hashes, []byte(s.Hash))
	}
	if len(c.IPRanges) > 0 {
		fc.ips, fc.ipsBad = parseRanges(c.IPRanges)
	}
	if len(c.JWKS) > 0 {
		// The v3 key set exists only because fosite's OpenIDConnectClient
		// speaks go-jose v3; it is parsed from the stored JSON once here.
		var set jose3.JSONWebKeySet
		if err := json.Unmarshal(c.JWKS, &set); err == nil {
			fc.jwks = &set
		}
	}
	return fc
}

// secretsChangeAfter returns when the first of the client's secrets that
// NewClient kept at now expires, or zero if none of them does: from then
// on NewClient would keep fewer.
func (c *Client) secretsChangeAfter(now time.Time) time.Time {
	var first time.Time
	for _, s := range c.Secrets {
		if e := s.ExpiresAt; !e.IsZero() && now.Before(e) && (first.IsZero() || e.Before(first)) {
			first = e
		}
	}
	return first
}

// rangeCache caches ipfilter.Parse by the ranges' text: a client is
// loaded on every request, and parsing its ranges each time cost a
// microsecond of a token request. A List is immutable, so one is shared.
// The cache is dropped whole once it holds maxRangeCache entries (clients'
// ranges changing that often, or that many clients).
var rangeCache atomic.Pointer[rangeCacheMap]

type rangeCacheMap struct {
	m sync.Map // string -> parsedRanges
	n atomic.Int64
}

type parsedRanges struct {
	l   ipfilter.List
	bad bool
}

const maxRangeCache = 4096

// rangeKey returns a key that no other list of ranges has: the one range
// as it is when it holds no newline, else a newline followed by each range
// prefixed with its length.
func rangeKey(ranges []string) string {
	if len(ranges) == 1 && !strings.Contains(ranges[0], "\n") {
		return ranges[0]
	}
	var b strings.Builder
	b.WriteByte('\n')
	for _, r := range ranges {
		b.WriteString(strconv.Itoa(len(r)))
		b.WriteByte(':')
		b.WriteString(r)
	}
	return b.String()
}

// parseRanges returns ipfilter.Parse(ranges) and whether it failed.
func parseRanges(ranges []string) (ipfilter.List, bool) {
	key := rangeKey(ranges)
	c := rangeCache.Load()
	if c != nil {
		if p, ok := c.m.Load(key); ok {
			pr := p.(parsedRanges)
			return pr.l, pr.bad
		}
	}
	l, err := ipfilter.Parse(ranges)
	pr := parsedRanges{l: l, bad: err != nil}
	if c == nil || c.n.Load() >= maxRangeCache {
		c = &rangeCacheMap{}
		rangeCache.Store(c)
	}
	if _, loaded := c.m.LoadOrStore(key, pr); !loaded {
		c.n.Add(1)
	}
	return pr.l, pr.bad
}

// AllowedFrom reports whether the client may be used from addr: always
// when it has no IP ranges; never when its ranges are invalid (fail closed).
func (c *Client) AllowedFrom(addr netip.Addr) bool {
	if len(c.IPRanges) == 0 {
		return true
	}
	return !c.ipsBad && c.ips.Contains(addr)
}

// GetID implements fosite.Client.
func (c *Client) GetID() string { return c.ID }

// GetHashedSecret implements fosite.Client: the newest valid secret hash.
func (c *Client) GetHashedSecret() []byte {
	if len(c.hashes) == 0 {
		return nil
	}
	return c.hashes[0]
}

// GetRotatedHashes implements fosite.ClientWithSecretRotation: the other
// valid hashes.
func (c *Client) GetRotatedHashes() [][]byte {
	if len(c.hashes) < 2 {
		return nil
	}
	return c.hashes[1:]
}

// GetRedirectURIs implements fosite.Client.
func (c *Client) GetRedirectURIs() []string { return c.RedirectURIs }

// GetGrantTypes implements fosite.Client.
func (c *Client) GetGrantTypes() fosite.Arguments { return c.GrantTypes }

// GetResponseTypes implements fosite.Client.
func (c *Client) GetResponseTypes() fosite.Arguments {
	if len(c.ResponseTypes) == 0 {
		return fosite.Arguments{"code"}
	}
	return c.ResponseTypes
}

// GetScopes implements fosite.Client.
func (c *Client) GetScopes() fosite.Arguments { return c.Scopes }

// IsPublic implements fosite.Client.
func (c *Client) IsPublic() bool { return c.Public }

// GetAudience implements fosite.Client.
func (c *Client) GetAudience() fosite.Arguments { return c.Audience }

// GetRequestURIs implements fosite.OpenIDConnectClient: request_uri is not
// supported, so none are registered.
func (c *Client) GetRequestURIs() []string { return nil }

// GetJSONWebKeys implements fosite.OpenIDConnectClient.
func (c *Client) GetJSONWebKeys() *jose3.JSONWebKeySet { return c.jwks }

// GetJSONWebKeysURI implements fosite.OpenIDConnectClient: remote key sets
// are not fetched (no server-side requests to client-chosen URLs).
func (c *Client) GetJSONWebKeysURI() string { return "" }

// noRequestObjects is what GetRequestObjectSigningAlgorithm returns: no
// JWS algorithm, so that fosite refuses every request object.
const noRequestObjects = "request-objects-not-supported"

// GetRequestObjectSigningAlgorithm implements fosite.OpenIDConnectClient.
// Request objects are not supported, and the provider refuses the request
// and request_uri parameters before fosite sees them. Should one reach
// fosite anyway, this value keeps it from being used: fosite accepts a
// request object of any alg, "none" (unsigned) included, when the client's
// algorithm is "", and otherwise refuses one whose alg differs
// (invalid_request_object). An object whose header names this very value
// as its alg is refused too, as an unsupported algorithm.
func (c *Client) GetRequestObjectSigningAlgorithm() string { return noRequestObjects }

// GetTokenEndpointAuthMethod implements fosite.OpenIDConnectClient.
func (c *Client) GetTokenEndpointAuthMethod() string {
	switch {
	case c.TokenEndpointAuthMethod != "":
		return c.TokenEndpointAuthMethod
	case c.Public:
		return "none"
	default:
		return "client_secret_basic"
	}
}

// GetTokenEndpointAuthSigningAlgorithm implements fosite.OpenIDConnectClient.
func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string {
	if c.TokenEndpointAuthSigningAlg == "" {
		return "RS256"
	}
	return c.TokenEndpointAuthSigningAlg
}

// GetResponseModes implements fosite.ResponseModeClient: the default mode
// of each response type, fragment, query and form_post.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeFragment, fosite.ResponseModeQuery, fosite.ResponseModeFormPost}
}

// GetEffectiveLifespan implements fosite.ClientWithCustomTokenLifespans.
func (c *Client) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	var d time.Duration
	switch tt {
	case fosite.AccessToken:
		d = c.AccessTokenLifetime
	case fosite.RefreshToken:
		d = c.RefreshTokenLifetime
	case fosite.AuthorizeCode:
		d = c.AuthCodeLifetime
	case fosite.IDToken:
		d = c.IDTokenLifetime
	}
	if d > 0 {
		return d
	}
	return fallback
}
