package provider

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/storage"
)

// The audit trail records every security-relevant event: who did what, to
// what, when and from where (docs/audit.md). Each event goes to
// Config.Auditor (by default a log line on Config.Logger) and, when the
// store implements [storage.AuditStore], into the store, where
// [Provider.AuditEvents] and the admin API's GET /audit query it. No event
// ever holds a secret, token, code, password or one-time code: events are
// built here, from the facts the provider decided on, never from raw
// request input but for the identifiers a request names (a client ID, a
// username), which are cleaned and cut short.

// The audit event types: stable dotted names, listed with their details in
// docs/audit.md. Hosts may record their own types through an [Auditor];
// the admin API's type filter accepts any dotted name.
const (
	// AuditTokenIssued: the token endpoint (or, for the legacy implicit
	// grant, the authorization endpoint) issued tokens. Details: grant,
	// scopes, grant_id.
	AuditTokenIssued = "token.issued"
	// AuditTokenRefreshed: a refresh token was exchanged for new tokens.
	// Details: grant, scopes, grant_id.
	AuditTokenRefreshed = "token.refreshed"
	// AuditTokenRevoked: a client revoked one of its tokens at the
	// revocation endpoint, and so its grant. Details: grant_id.
	AuditTokenRevoked = "token.revoked"
	// AuditRefreshReuseDetected: a refresh token was presented again after
	// its rotation; the grant's tokens were revoked. Details: grant_id.
	AuditRefreshReuseDetected = "refresh.reuse_detected"
	// AuditCodeReplayed: an authorization code was presented again after
	// its exchange; the tokens of its grant were revoked. Details:
	// grant_id.
	AuditCodeReplayed = "code.replayed"
	// AuditClientAuthFailed: a client failed to authenticate at the token,
	// introspection or revocation endpoint. Details: reason
	// (unknown_client, invalid_secret, invalid_assertion, locked).
	AuditClientAuthFailed = "client.auth_failed"
	// AuditClientSecretExpired: a client presented one of its secrets
	// after that secret expired. Details: expired_at.
	AuditClientSecretExpired = "client.secret_expired"
	// AuditSignInSucceeded: a user signed in with a password.
	AuditSignInSucceeded = "signin.succeeded"
	// AuditSignInFailed: a sign-in with a password failed. Details:
	// username, reason (invalid_credentials, locked), locked_until.
	AuditSignInFailed = "signin.failed"
	// AuditSignInLocked: failed sign-ins locked a username (at one browser
	// or address, see Config.PasswordLockout). Details: username,
	// locked_until.
	AuditSignInLocked = "signin.locked"
	// AuditMFAPassed: a user completed a second factor. Details: factor.
	AuditMFAPassed = "mfa.passed"
	// AuditMFAFailed: a second factor was refused. Details: factor,
	// reason (invalid_code, locked), locked_until.
	AuditMFAFailed = "mfa.failed"
	// AuditMFALocked: wrong codes locked a user's second factor. Details:
	// factor, locked_until.
	AuditMFALocked = "mfa.locked"
	// AuditMFAEnrolled: a user enrolled a second factor (on the account
	// page, or when a client's policy asked at sign-in). Details: none;
	// ClientID names that client.
	AuditMFAEnrolled = "mfa.enrolled"
	// AuditMFARemoved: a user removed their second factor on the account
	// page.
	AuditMFARemoved = "mfa.removed"
	// AuditIPRefused: a client was used from outside its IP ranges.
	// Details: endpoint.
	AuditIPRefused = "ip.refused"
	// AuditConsentGranted: a user allowed a client scopes on the consent
	// page. Details: scopes.
	AuditConsentGranted = "consent.granted"
	// AuditConsentRevoked: a user's remembered consent for a client was
	// revoked.
	AuditConsentRevoked = "consent.revoked"
	// AuditClientCreated: a client was registered. Details: grant_types,
	// token_endpoint_auth_method.
	AuditClientCreated = "client.created"
	// AuditClientUpdated: a client was changed. Details: fields (the
	// storage.Client fields that changed).
	AuditClientUpdated = "client.updated"
	// AuditClientDeleted: a client was deleted, with its tokens, consents
	// and flows.
	AuditClientDeleted = "client.deleted"
	// AuditClientSecretRotated: a client was given a new secret. Details:
	// grace_period (seconds), secret_expires_at.
	AuditClientSecretRotated = "client.secret_rotated"
	// AuditClientRead: an administrator read a client.
	AuditClientRead = "client.read"
	// AuditClientListed: an administrator listed clients. Details:
	// customer, secret_expires_before, count.
	AuditClientListed = "client.listed"
	// AuditAdminAuthFailed: a request to the admin API was refused for
	// want of a valid admin credential. Details: method, path.
	AuditAdminAuthFailed = "admin.auth_failed"
	// AuditAPIKeyCreated: an API key was created. Details: owner_type,
	// name, tenant, expires_at; Subject is the key's owner.
	AuditAPIKeyCreated = "apikey.created"
	// AuditAPIKeyRead: an API key was read, or keys listed (key_id empty;
	// Details: listed, the count), through the Go API or the admin API.
	AuditAPIKeyRead = "apikey.read"
	// AuditAPIKeyRotated: an API key was given a new secret; the old one
	// stopped working and its tokens were revoked. Details: expires_at.
	AuditAPIKeyRotated = "apikey.rotated"
	// AuditAPIKeyDeleted: an API key was deleted (by an administrator, by
	// its owner on the account page, or with its application user) and
	// its tokens revoked. Details: reason when not asked directly.
	AuditAPIKeyDeleted = "apikey.deleted"
	// AuditAPIKeyRefused: a presented API key was refused at the token
	// endpoint or by the middleware. Details: reason (malformed, unknown
	// key ID, wrong secret, expired, address, ...), key_id when known.
	AuditAPIKeyRefused = "apikey.refused"
	// AuditAppUserCreated: an application user was created. Details:
	// principal_type, name, tenant, roles, permissions.
	AuditAppUserCreated = "appuser.created"
	// AuditAppUserUpdated: an application user was changed; Details as for
	// appuser.created, after the change.
	AuditAppUserUpdated = "appuser.updated"
	// AuditAppUserDeleted: an application user was deleted with its keys,
	// and its tokens revoked. Details: principal_type, keys_deleted.
	AuditAppUserDeleted = "appuser.deleted"
	// AuditSessionEnded: a user's sign-in ended by logout or
	// EndUserSessions, and the grants made in it were revoked. Details:
	// reason (logout, end_user_sessions), sessions.
	AuditSessionEnded = "session.ended"
)

// auditTypes are the provider's event types, each with the level the
// default Auditor logs it at: Warn for refusals and attacks, Debug for the
// token endpoint's routine successes (one per token request: the trail
// keeps them, and a log at Info is spared them), Info for the rest. docs/audit.md lists the same types (a test
// holds it).
var auditTypes = []struct {
	name  string
	level slog.Level
}{
	{AuditTokenIssued, slog.LevelDebug},
	{AuditTokenRefreshed, slog.LevelDebug},
	{AuditTokenRevoked, slog.LevelInfo},
	{AuditRefreshReuseDetected, slog.LevelWarn},
	{AuditCodeReplayed, slog.LevelWarn},
	{AuditClientAuthFailed, slog.LevelWarn},
	{AuditClientSecretExpired, slog.LevelWarn},
	{AuditSignInSucceeded, slog.LevelInfo},
	{AuditSignInFailed, slog.LevelWarn},
	{AuditSignInLocked, slog.LevelWarn},
	{AuditMFAPassed, slog.LevelInfo},
	{AuditMFAFailed, slog.LevelWarn},
	{AuditMFALocked, slog.LevelWarn},
	{AuditMFAEnrolled, slog.LevelInfo},
	{AuditMFARemoved, slog.LevelInfo},
	{AuditIPRefused, slog.LevelWarn},
	{AuditConsentGranted, slog.LevelInfo},
	{AuditConsentRevoked, slog.LevelInfo},
	{AuditClientCreated, slog.LevelInfo},
	{AuditClientUpdated, slog.LevelInfo},
	{AuditClientDeleted, slog.LevelInfo},
	{AuditClientSecretRotated, slog.LevelInfo},
	{AuditClientRead, slog.LevelInfo},
	{AuditClientListed, slog.LevelInfo},
	{AuditAdminAuthFailed, slog.LevelWarn},
	{AuditAPIKeyCreated, slog.LevelInfo},
	{AuditAPIKeyRead, slog.LevelInfo},
	{AuditAPIKeyRotated, slog.LevelInfo},
	{AuditAPIKeyDeleted, slog.LevelInfo},
	{AuditAPIKeyRefused, slog.LevelWarn},
	{AuditAppUserCreated, slog.LevelInfo},
	{AuditAppUserUpdated, slog.LevelInfo},
	{AuditAppUserDeleted, slog.LevelInfo},
	{AuditSessionEnded, slog.LevelInfo},
}

// auditLevels is auditTypes by name.
var auditLevels = func() map[string]slog.Level {
	m := make(map[string]slog.Level, len(auditTypes))
	for _, t := range auditTypes {
		m[t.name] = t.level
	}
	return m
}()

// auditLevel is the level the default Auditor logs an event of type typ
// at: Info for a type not in auditTypes (a host's own).
func auditLevel(typ string) slog.Level {
	if l, ok := auditLevels[typ]; ok {
		return l
	}
	return slog.LevelInfo
}

// An Auditor receives the provider's audit events (Config.Auditor). It is
// called for every event, concurrently, and must not change the event
// (its Details are shared with the store). For the events recorded
// synchronously (the changes and reads of [Provider.CreateClient] and the
// other client administration methods) an error fails the call, and with
// a store that is a [storage.Transactor] the change is not made; for the
// others (recorded in the background so that they never slow a request)
// an error counts the event as unwritten ([Provider.AuditStats]) and is
// logged.
type Auditor interface {
	Audit(ctx context.Context, e storage.AuditEvent) error
}

// AuditorFunc adapts a function to an [Auditor].
type AuditorFunc func(ctx context.Context, e storage.AuditEvent) error

// Audit implements [Auditor].
func (f AuditorFunc) Audit(ctx context.Context, e storage.AuditEvent) error { return f(ctx, e) }

// LogAuditor returns the default [Auditor]: it writes each event as one
// log record on logger, timed at the event's time, with the message
// "audit" and the attributes event_id, event_type, actor_kind and, when
// not empty, actor_id, target, client_id, subject, request_id, client_ip
// and the group details; at Warn for refusals and attacks (failed
// authentication, reuse, replay, lockouts, refused addresses), at Debug for
// token.issued and token.refreshed (one per token request), and at Info
// for the rest. It never fails.
func LogAuditor(logger *slog.Logger) Auditor {
	if logger == nil {
		logger = slog.Default()
	}
	return AuditorFunc(func(ctx context.Context, e storage.AuditEvent) error {
		level := auditLevel(e.Type)
		h := logger.Handler()
		if !h.Enabled(ctx, level) {
			return nil
		}
		r := slog.NewRecord(e.Time, level, "audit", 0)
		var buf [12]slog.Attr
		r.AddAttrs(appendAuditAttrs(buf[:0], e)...)
		_ = h.Handle(ctx, r) // a log that cannot be written is no audit failure of ours
		return nil
	})
}

// appendAuditAttrs appends the log attributes of e to attrs: the ID, type
// and actor kind always, the other fields when they are not empty, and
// the details as a group in their order (the time is the record's).
func appendAuditAttrs(attrs []slog.Attr, e storage.AuditEvent) []slog.Attr {
	attrs = append(attrs,
		slog.String("event_id", e.ID),
		slog.String("event_type", e.Type),
		slog.String("actor_kind", string(e.Actor.Kind)),
	)
	for _, a := range [...]struct{ k, v string }{
		{"actor_id", e.Actor.ID}, {"target", e.Target}, {"client_id", e.ClientID},
		{"subject", e.Subject}, {"request_id", e.RequestID}, {"client_ip", e.ClientAddr},
	} {
		if a.v != "" {
			attrs = append(attrs, slog.String(a.k, a.v))
		}
	}
	if len(e.Details) == 0 {
		return attrs
	}
	details := make([]slog.Attr, len(e.Details))
	for i, d := range e.Details {
		details[i] = slog.String(d.Name, d.Value)
	}
	return append(attrs, slog.Attr{Key: "details", Value: slog.GroupValue(details...)})
}

// WithActor returns a context that names the actor of the provider calls
// made with it, for the audit trail: an administration page of the host
// passes its signed-in administrator, for example
// WithActor(ctx, storage.AuditActor{Kind: storage.ActorAdmin, ID: "ops@example.com"}).
// [Provider.AdminHandler] does it for the actor its [AdminAuthorizer]
// returns. Calls without one are recorded as the system's.
func WithActor(ctx context.Context, a storage.AuditActor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// actorKey is the context key of [WithActor].
type actorKey struct{}

// actorFrom returns the actor ctx names, or the system.
func actorFrom(ctx context.Context) storage.AuditActor {
	if a, ok := ctx.Value(actorKey{}).(storage.AuditActor); ok && a.Kind != "" {
		return a
	}
	return storage.AuditActor{Kind: storage.ActorSystem}
}

// WithRequestID returns a context that gives the provider calls made with
// it a request ID for the audit trail, so that a host can find the events
// of one of its own requests. The provider's handlers set their own (see
// [Provider.Handler]). An ID that is not 1-128 characters of letters,
// digits and -._~:+/= is ignored.
func WithRequestID(ctx context.Context, id string) context.Context {
	if !requestIDSyntax.MatchString(id) {
		return ctx
	}
	info := requestInfoFrom(ctx)
	info.id = id
	return &requestContext{Context: ctx, info: info}
}

// requestIDSyntax is what an X-Request-Id must look like to be kept.
var requestIDSyntax = regexp.MustCompile(`^[A-Za-z0-9\-._~:+/=]{1,128}$`)

// requestInfo is what the audit trail records of the HTTP request that
// caused an event: its ID, and the request itself, whose client address
// is resolved only if an event needs it (most requests record none, and
// the token endpoint passes the address it resolved anyway).
type requestInfo struct {
	id string
	r  *http.Request // nil for WithRequestID
}

type requestInfoKey struct{}

// requestContext is a context carrying a requestInfo: what
// context.WithValue makes, in one allocation rather than two.
type requestContext struct {
	context.Context
	info requestInfo
	// header backs the X-Request-Id response header's value (traced):
	// one allocation less per request.
	header [1]string
}

// Value returns the requestInfo for requestInfoKey, and asks the parent
// for any other key.
func (c *requestContext) Value(key any) any {
	if _, ok := key.(requestInfoKey); ok {
		return &c.info
	}
	return c.Context.Value(key)
}

// requestInfoFrom returns the request info ctx carries (zero if none).
func requestInfoFrom(ctx context.Context) requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return *info
	}
	return requestInfo{}
}

// traced wraps an endpoint so that its events name the request: its ID
// (an X-Request-Id that a trusted proxy sent, if well-formed, else a new
// random one), sent back in the X-Request-Id response header, and the
// client's address as Config.TrustedProxies resolve it (when an event
// needs it). A request that already carries an ID (an endpoint inside
// another, WithRequestID) keeps it. With Config.AuditDisabled it does
// nothing.
func (p *Provider) traced(h http.Handler) http.Handler {
	if p.cfg.AuditDisabled {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		if info.id != "" && info.r != nil {
			h.ServeHTTP(w, r)
			return
		}
		if info.id == "" {
			info.id = p.requestID(r)
		}
		info.r = r
		rc := &requestContext{Context: r.Context(), info: info, header: [1]string{info.id}}
		w.Header()[requestIDHeader] = rc.header[:]
		h.ServeHTTP(w, r.WithContext(rc))
	})
}

// clientAddrOf returns the client address of the request info describes,
// as Config.TrustedProxies resolve it, or "" if there is no request or
// its address cannot be determined.
func (p *Provider) clientAddrOf(info requestInfo) string {
	if info.r == nil {
		return ""
	}
	a, err := p.resolver.ClientAddr(info.r)
	if err != nil {
		return ""
	}
	return a.String()
}

// requestIDHeader is the header of a request's ID, in its canonical form
// (as http.Header keeps it), to be read and set without canonicalising it
// per request.
const requestIDHeader = "X-Request-Id"

// requestID returns the ID of r: the X-Request-Id header that a trusted
// proxy sent, if it is one well-formed line, and otherwise a new random
// ID. A client's own X-Request-Id is not believed: it could pass itself
// off as another request in the trail.
func (p *Provider) requestID(r *http.Request) string {
	if ids := r.Header[requestIDHeader]; len(ids) == 1 && requestIDSyntax.MatchString(ids[0]) {
		if peer, err := ipfilter.ParseAddr(r.RemoteAddr); err == nil && p.resolver.TrustedProxies.Contains(peer) {
			return ids[0]
		}
	}
	return newID()
}

// idEncoding writes IDs in the alphabet of crypto/rand.Text.
var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a new random 128-bit ID, 26 characters of A-Z and 2-7.
// Event and request IDs must be unique, not secret: they come from the
// runtime's fast generator (ChaCha8, seeded from the system's), which
// costs no system call on the token endpoint's path.
func newID() string {
	id := newIDBytes()
	return string(id[:])
}

// idLen is the length of an ID of newID.
const idLen = 26

// newIDBytes returns a new ID as newID does, as bytes.
func newIDBytes() (out [idLen]byte) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], mrand.Uint64())
	idEncoding.Encode(out[:], b[:])
	return out
}

// The caps on an event's text, so that a stranger's request cannot make
// an event (or the log line) large: identifiers, detail values.
const (
	maxAuditText   = 256
	maxAuditDetail = 2048
)

// cleanText returns s as valid UTF-8 without NUL (each bad byte and NUL
// becomes U+FFFD, which every backend stores as it is), cut to at most
// max bytes at a rune boundary, with "…" marking a cut.
func cleanText(s string, max int) string {
	if len(s) <= max && cleanASCII(s) || len(s) <= max && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// cleanASCII reports whether s is ASCII without NUL, in one pass: the
// common case of cleanText (IDs, types, addresses).
func cleanASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// newEvent completes e for recording, all but its ID: the time
// (microseconds, as every backend keeps it), the request ID and client
// address ctx carries (unless e has them), the actor ctx names (unless e
// has one), and every text cleaned and capped.
func (p *Provider) newEvent(ctx context.Context, e storage.AuditEvent) storage.AuditEvent {
	e.Time = p.cfg.Now().UTC().Truncate(time.Microsecond)
	info := requestInfoFrom(ctx)
	if e.RequestID == "" {
		e.RequestID = info.id
	}
	if e.ClientAddr == "" {
		e.ClientAddr = p.clientAddrOf(info)
	}
	if e.Actor.Kind == "" {
		e.Actor = actorFrom(ctx)
	}
	// The ID, and the request ID a request was given (by traced or
	// WithRequestID), are clean already.
	e.Type = cleanText(e.Type, maxAuditText)
	e.Actor.Kind = storage.ActorKind(cleanText(string(e.Actor.Kind), maxAuditText))
	e.Actor.ID = cleanText(e.Actor.ID, maxAuditText)
	e.Target = cleanText(e.Target, maxAuditText)
	e.ClientID = cleanText(e.ClientID, maxAuditText)
	e.Subject = cleanText(e.Subject, maxAuditText)
	if e.RequestID != info.id {
		e.RequestID = cleanText(e.RequestID, maxAuditText)
	}
	e.ClientAddr = cleanText(e.ClientAddr, maxAuditText)
	e.Details = cleanDetails(e.Details)
	return e
}

// cleanDetails returns d as storage.AuditEvent says an event's details
// are: each name and value cleaned and capped, no value empty, in byte
// order of their names, each name once (its last value in d). It returns
// d itself if it is so already, and otherwise a new slice, leaving d as
// it was.
func cleanDetails(d []storage.AuditDetail) []storage.AuditDetail {
	clean := true
	for i, x := range d {
		if x.Value == "" || i > 0 && d[i-1].Name >= x.Name ||
			cleanText(x.Name, maxAuditText) != x.Name || cleanText(x.Value, maxAuditDetail) != x.Value {
			clean = false
			break
		}
	}
	if clean {
		return d
	}
	out := make([]storage.AuditDetail, 0, len(d))
	for _, x := range d {
		if x.Value != "" {
			out = append(out, storage.AuditDetail{Name: cleanText(x.Name, maxAuditText), Value: cleanText(x.Value, maxAuditDetail)})
		}
	}
	slices.SortStableFunc(out, func(a, b storage.AuditDetail) int { return strings.Compare(a.Name, b.Name) })
	kept := out[:0]
	for i, x := range out {
		if i+1 < len(out) && out[i+1].Name == x.Name {
			continue // a later value of the same name wins
		}
		kept = append(kept, x)
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}

// detail is a detail of an event.
func detail(name, value string) storage.AuditDetail {
	return storage.AuditDetail{Name: name, Value: value}
}

// details returns the details of an event from names and values in
// turn, in any order (newEvent puts them in order): details("reason",
// r, "factor", f).
func details(namesAndValues ...string) []storage.AuditDetail {
	d := make([]storage.AuditDetail, 0, len(namesAndValues)/2)
	for i := 0; i+1 < len(namesAndValues); i += 2 {
		d = append(d, detail(namesAndValues[i], namesAndValues[i+1]))
	}
	return d
}

// audit records e in the background (see auditWriter): it never blocks
// and never fails the request. It is the provider's one way to record an
// event caused by a request; ctx is the request's (for its ID, address and
// actor), e says what happened (Type, Actor, Target, ClientID, Subject,
// Details, and details as name-value pairs, which spare the request the
// map: the writer makes it); newEvent and queueEvent fill the rest.
//
// Its details are e.Details and details together: a caller on a hot path
// passes them as details, which (unlike e's own) may live on its stack.
func (p *Provider) audit(ctx context.Context, e storage.AuditEvent, details ...storage.AuditDetail) {
	if p.cfg.AuditDisabled {
		return
	}
	if len(e.Details) > 0 {
		details = append(slices.Clip(e.Details), details...)
		e.Details = nil
	}
	p.auditor.enqueue(queueEvent(p.newEvent(ctx, e), details))
}

// errAuditWrite marks the failure to record an event synchronously.
var errAuditWrite = errors.New("provider: the audit trail could not be written")

// auditNow records e at once, in the store (with ctx, so inside its
// transaction if it carries one) and through the Auditor, and returns
// the error of either: the events of administration, which must not be
// made unrecorded.
func (p *Provider) auditNow(ctx context.Context, e storage.AuditEvent) error {
	if p.cfg.AuditDisabled {
		return nil
	}
	e = p.newEvent(ctx, e)
	e.ID = newID()
	if p.auditStore != nil {
		if err := p.auditStore.AppendAuditEvents(ctx, []storage.AuditEvent{e}); err != nil {
			return fmt.Errorf("%w: %w: store %s: %w", errAuditWrite, ErrUnavailable, e.Type, err)
		}
	}
	if err := p.cfg.Auditor.Audit(ctx, e); err != nil {
		return fmt.Errorf("%w: %w: Auditor refused %s: %w", errAuditWrite, ErrUnavailable, e.Type, err)
	}
	p.auditor.countWritten(1)
	return nil
}

// auditChange makes an administrative change and records its event
// synchronously: change makes it (with the context it is given) and
// returns the event. With a store that is a [storage.Transactor], both run
// in one transaction, committed once the store and the Auditor have taken
// the event, so that a change is never kept without its event nor an
// event stored without its change. With any other store the change is
// made first; if the event then cannot be recorded, the error says that
// the change was made.
func (p *Provider) auditChange(ctx context.Context, change func(ctx context.Context) (storage.AuditEvent, error)) error {
	tx, ok := p.store.(storage.Transactor)
	if p.cfg.AuditDisabled || !ok {
		e, err := change(ctx)
		if err != nil {
			return err
		}
		if err := p.auditNow(ctx, e); err != nil {
			return fmt.Errorf("provider: %s was done but not recorded: %w", e.Type, err)
		}
		return nil
	}
	txCtx, err := tx.BeginTx(ctx)
	if err != nil {
		return fmt.Errorf("provider: begin a transaction: %w: %w", ErrUnavailable, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback(txCtx)
		}
	}()
	e, err := change(txCtx)
	if err != nil {
		return err
	}
	if err := p.auditNow(txCtx, e); err != nil {
		return fmt.Errorf("provider: %s was not done: %w", e.Type, err)
	}
	if err := tx.Commit(txCtx); err != nil {
		return fmt.Errorf("provider: %s: commit: %w: %w", e.Type, ErrUnavailable, err)
	}
	committed = true
	return nil
}

// ErrAuditNotSupported is returned by [Provider.AuditEvents] when the store
// does not implement [storage.AuditStore]: the events went only to
// Config.Auditor, and there is no trail to query.
var ErrAuditNotSupported = errors.New("provider: the store keeps no audit trail (it does not implement storage.AuditStore)")

// auditFlushWait bounds how long AuditEvents waits for the events
// recorded before it to be written.
const auditFlushWait = 2 * time.Second

// AuditEvents returns the audit events q selects, newest first (see
// [storage.AuditQuery]; page with q.After set to the last event's Key()
// and q.Limit). It first waits (up to 2 seconds) until the events this
// provider recorded before the call are written, so that a caller sees
// what it just did. It returns [ErrAuditNotSupported] if the store keeps
// no trail, and an error wrapping [ErrUnavailable] if the store fails.
func (p *Provider) AuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	if p.auditStore == nil {
		return nil, ErrAuditNotSupported
	}
	wctx, cancel := context.WithTimeout(ctx, auditFlushWait)
	_ = p.auditor.flush(wctx)
	cancel()
	events, err := p.auditStore.FindAuditEvents(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("provider: find audit events: %w: %w", ErrUnavailable, err)
	}
	return events, nil
}

// SweepAudit removes the stored audit events older than
// Config.AuditRetention (90 days by default) and returns how many it
// removed. Run it periodically, like the store's DeleteExpired (from one
// replica or from all). It does nothing when the store keeps no trail or
// the retention is negative (keep forever).
func (p *Provider) SweepAudit(ctx context.Context) (int64, error) {
	if p.auditStore == nil || p.cfg.AuditRetention < 0 {
		return 0, nil
	}
	n, err := p.auditStore.DeleteAuditEvents(ctx, p.cfg.Now().Add(-p.cfg.AuditRetention))
	if err != nil {
		return n, fmt.Errorf("provider: sweep the audit trail: %w: %w", ErrUnavailable, err)
	}
	return n, nil
}

// AuditStats are counts of the background audit writer since the provider
// was made ([Provider.AuditStats]).
type AuditStats struct {
	// Queued is how many events wait to be written now.
	Queued int
	// Written is how many events were written: stored (when the store
	// keeps a trail) and accepted by Config.Auditor.
	Written uint64
	// Unwritten is how many events were not: dropped because the queue
	// was full (Dropped), or refused by the store or the Auditor. Each is
	// logged on Config.Logger.
	Unwritten uint64
	// Dropped is how many of Unwritten were dropped because the queue
	// (Config.AuditQueueSize) was full.
	Dropped uint64
}

// AuditStats returns the counts of the audit writer, for monitoring: a
// growing Unwritten means events are being lost (each loss is also
// logged), a Queued near Config.AuditQueueSize that the writer cannot
// keep up.
func (p *Provider) AuditStats() AuditStats { return p.auditor.stats() }

// Shutdown waits until every audit event recorded so far is written (or
// ctx ends: it then returns an error saying how many were not). Call it
// when the host shuts down, after http.Server.Shutdown has let the
// requests finish. The provider keeps working after it: events recorded
// later are written as before.
func (p *Provider) Shutdown(ctx context.Context) error {
	if err := p.auditor.flush(ctx); err != nil {
		return fmt.Errorf("provider: shutdown: %d audit events not written yet: %w", p.auditor.stats().Queued, err)
	}
	return nil
}
