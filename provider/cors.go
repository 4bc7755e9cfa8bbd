package provider

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// Cross-origin resource sharing (CORS) lets the JavaScript of a
// single-page app at its own origin call the token, revocation and
// userinfo endpoints (and introspection with Config.CORSIntrospection);
// https://fetch.spec.whatwg.org/#http-cors-protocol. The rules:
//
//   - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
//     allowed when its origin is in Config.CORSOrigins or is the origin of
//     a redirect URI of any registered client (corsOrigins, a cache).
//   - An actual response names the request's origin in
//     Access-Control-Allow-Origin only when the origin belongs to the
//     client the request authenticated as (for userinfo: the access
//     token's client): one of its redirect URIs' origins, or
//     Config.CORSOrigins. A response without an authenticated client (bad
//     credentials, an invalid token, a malformed request) allows no
//     origin, so the browser hides it from the page.
//   - Never "*", never Access-Control-Allow-Credentials: the endpoints take
//     credentials in the request (a form field or the Authorization
//     header), never from cookies. Every response of these endpoints
//     carries Vary: Origin.
//
// The pages (authorization, login, MFA, tenant, consent, logout) never
// send CORS headers: they are for the browser's top-level navigation only.

// corsMaxAge is how long a browser may cache a preflight's answer
// (Access-Control-Max-Age, seconds).
const corsMaxAge = "600"

// corsOriginsTTL is how long the set of the clients' redirect-URI origins
// that preflights are checked against is used before it is read again.
const corsOriginsTTL = 30 * time.Second

// corsAllowedHeaders are the request headers a cross-origin call may send:
// Authorization for HTTP Basic client authentication and bearer tokens.
const corsAllowedHeaders = "Authorization, Content-Type"

// corsExposedHeaders are the response headers a page may read besides the
// CORS-safelisted ones: the bearer and Basic challenges and the lockout's
// wait.
const corsExposedHeaders = "WWW-Authenticate, Retry-After"

// corsPolicy decides the CORS headers of the endpoints that allow them.
type corsPolicy struct {
	// extra are the origins of Config.CORSOrigins, normalised.
	extra map[string]bool
	// registered caches the origins of the clients' redirect URIs.
	registered *originCache
}

// withCORS wraps an endpoint that browsers may call from other origins
// with the given methods ("POST", "GET, POST"): it answers preflights and
// adds Vary: Origin to every response. The endpoint itself allows the
// origin of an actual request with allowOrigin once it knows the client.
func (p *Provider) withCORS(methods string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			p.preflight(w, r, origin, methods)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight request: 204 with the allowed
// methods and headers when the origin may call the provider from a
// browser, 403 without CORS headers (which the browser reports as a
// failed request) when not, 503 when the registered origins cannot be
// read.
func (p *Provider) preflight(w http.ResponseWriter, r *http.Request, origin, methods string) {
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	o, ok := normalizeOrigin(origin)
	allowed := ok && p.cors.extra[o]
	if ok && !allowed {
		var err error
		allowed, err = p.cors.registered.contains(r.Context(), o)
		if err != nil {
			p.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "CORS preflight: read the clients' origins", slog.String("error", err.Error()))
			writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The allowed origins could not be read; retry later.")
			return
		}
	}
	if !allowed {
		writeJSONError(w, http.StatusForbidden, "invalid_request", "This origin may not call the endpoint from a browser: it is not the origin of a registered redirect URI.")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", corsAllowedHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// allowOrigin lets the page at r's origin read the response when the
// origin belongs to c, the client the request authenticated as: one of its
// redirect URIs' origins, or one of Config.CORSOrigins. Call it before the
// response is written; a nil c allows nothing.
func (p *Provider) allowOrigin(w http.ResponseWriter, r *http.Request, c *storage.Client) {
	origin := r.Header.Get("Origin")
	if c == nil || origin == "" {
		return
	}
	o, ok := normalizeOrigin(origin)
	if !ok || !(p.cors.extra[o] || clientHasOrigin(c, o)) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposedHeaders)
}

// clientHasOrigin reports whether o is the origin of one of c's redirect
// URIs.
func clientHasOrigin(c *storage.Client, o string) bool {
	for _, u := range c.RedirectURIs {
		if ro, ok := originOf(u); ok && ro == o {
			return true
		}
	}
	return false
}

// originOf returns the web origin of an absolute http or https URL,
// normalised as normalizeOrigin does; false for anything else (a
// private-use scheme such as com.example.app:/cb has no web origin).
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	return normalizeOrigin(u.Scheme + "://" + u.Host)
}

// normalizeOrigin returns the serialised origin (RFC 6454 §6.1) of an
// Origin header value or a configured origin: lower-case scheme and host,
// the default port dropped. It refuses anything but scheme://host[:port]
// with scheme http or https: a path, a query, user information, and the
// opaque origin "null".
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") || (u.Path != "" && u.Path != "/") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.Contains(u.Host, "*") {
		return "", false
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// checkCORSOrigin says what is wrong with a Config.CORSOrigins entry, or "".
func checkCORSOrigin(s string) string {
	o, ok := normalizeOrigin(strings.TrimSuffix(s, "/"))
	switch {
	case s == "*" || s == "null":
		return fmt.Sprintf("%q is not allowed: list each origin", s)
	case !ok:
		return fmt.Sprintf("%q is not an origin: want scheme://host[:port], such as https://app.example.com", s)
	case strings.HasPrefix(o, "http://") && !isLoopbackHost(strings.Trim(hostOf(o), "[]")):
		return fmt.Sprintf("%q must use https (http only on a loopback host)", s)
	}
	return ""
}

// hostOf returns the host of a normalised origin, without its port.
func hostOf(origin string) string {
	u, _ := url.Parse(origin)
	return u.Hostname()
}

// originCache is the set of the origins of every registered client's
// redirect URIs, read from the store (ListClients) at most once per ttl
// and shared by all requests, so that preflights, which anyone can send
// with any origin, cost no store round trip of their own: a flood of
// preflights costs one ListClients per ttl, whatever their origins.
// The price is staleness: a client registered (or a redirect URI added)
// in the last ttl may find its preflights refused until the set is read
// again, and a removed one accepted (its actual responses are still
// refused: allowOrigin reads the authenticated client itself). When the
// store fails, the last set read goes on answering for another ttl; with
// no set yet, the preflight fails with 503.
type originCache struct {
	store  storage.ClientStore
	now    func() time.Time
	ttl    time.Duration
	logger *slog.Logger

	refresh sync.Mutex // held by the one request reading the store
	cur     atomic.Pointer[originSet]
}

// originSet is one reading of the clients' origins.
type originSet struct {
	origins map[string]bool
	expires time.Time
}

// contains reports whether origin (normalised) is the origin of a
// registered client's redirect URI. While one request reads the store,
// others are answered from the previous set, if there is one.
func (c *originCache) contains(ctx context.Context, origin string) (bool, error) {
	s := c.cur.Load()
	if s != nil && c.now().Before(s.expires) {
		return s.origins[origin], nil
	}
	if s != nil && !c.refresh.TryLock() {
		return s.origins[origin], nil
	}
	if s == nil {
		c.refresh.Lock()
	}
	defer c.refresh.Unlock()
	if s = c.cur.Load(); s != nil && c.now().Before(s.expires) {
		return s.origins[origin], nil // read while this request waited
	}
	clients, err := c.store.ListClients(ctx)
	if err != nil {
		if s == nil {
			return false, err
		}
		c.logger.LogAttrs(ctx, slog.LevelWarn, "CORS: read the clients' origins; the previous set stays in use", slog.String("error", err.Error()))
		c.cur.Store(&originSet{origins: s.origins, expires: c.now().Add(c.ttl)})
		return s.origins[origin], nil
	}
	next := &originSet{origins: map[string]bool{}, expires: c.now().Add(c.ttl)}
	for _, cl := range clients {
		for _, u := range cl.RedirectURIs {
			if o, ok := originOf(u); ok {
				next.origins[o] = true
			}
		}
	}
	c.cur.Store(next)
	return next.origins[origin], nil
}
