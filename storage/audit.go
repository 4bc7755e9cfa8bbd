package storage

import (
	"context"
	"time"
)

// ActorKind says who caused an [AuditEvent].
type ActorKind string

// The actor kinds.
const (
	// ActorAdmin is an administrator: a caller of the admin API or of the
	// provider's administration methods who named themselves.
	ActorAdmin ActorKind = "admin"
	// ActorUser is an end user, signed in or trying to; the ID is the
	// subject, or "" while the user is not known.
	ActorUser ActorKind = "user"
	// ActorClient is an OAuth client; the ID is the client ID it
	// presented (which failed events do not vouch for).
	ActorClient ActorKind = "client"
	// ActorSystem is the provider itself, or a caller of its methods that
	// named no actor.
	ActorSystem ActorKind = "system"
)

// AuditActor is who caused an [AuditEvent].
type AuditActor struct {
	Kind ActorKind
	// ID names the actor within its kind: an administrator's name, a
	// subject, a client ID; "" when not known.
	ID string
}

// AuditEvent is one entry of the audit trail: who did what, to what, when
// and from where. It never holds a secret, token, code, password or
// one-time code; the provider builds every event and keeps them out. Its
// Time is never zero and its text is valid UTF-8 without NUL, at most a
// few KB in all (the provider cleans and caps what a request named); a
// backend may refuse other events.
type AuditEvent struct {
	// ID identifies the event (random, unique); it also orders events of
	// the same Time.
	ID string
	// Time is when the event happened.
	Time time.Time
	// Type is the event's stable dotted name, such as "token.issued" or
	// "client.created" (docs/audit.md lists them).
	Type string
	// Actor is who caused the event.
	Actor AuditActor
	// Target names what the event happened to, as "kind:id", for example
	// "client:reporting" or "grant:<request ID>"; "" if nothing apart
	// from ClientID and Subject.
	Target string
	// ClientID is the OAuth client concerned, or "".
	ClientID string
	// Subject is the user concerned, or "".
	Subject string
	// RequestID is the ID of the HTTP request (or API call) that caused
	// the event, or "".
	RequestID string
	// ClientAddr is the address of the client that sent the request, as
	// netip.Addr.String gives it, or "".
	ClientAddr string
	// Details holds further facts of the event (for example "grant",
	// "scopes", "reason"); never a secret. The provider makes them in
	// byte order of their names, each name once, no value empty; stores
	// return them so. Detail reads one by name.
	Details []AuditDetail
}

// AuditDetail is one of an [AuditEvent]'s further facts: a name and its
// value. An event's details are a slice of pairs rather than a map so
// that recording an event on a busy token endpoint allocates no map.
type AuditDetail struct {
	Name, Value string
}

// Detail returns the value of the detail called name, or "" if e has
// none.
func (e AuditEvent) Detail(name string) string {
	for _, d := range e.Details {
		if d.Name == name {
			return d.Value
		}
	}
	return ""
}

// AuditKey is an event's place in the trail's order: newest first, by
// Time and, for events of the same Time, by ID (byte order, greater
// first).
type AuditKey struct {
	Time time.Time
	ID   string
}

// Key returns e's place in the trail's order.
func (e AuditEvent) Key() AuditKey { return AuditKey{Time: e.Time, ID: e.ID} }

// Before reports whether k comes before o in the trail's order: it is
// newer, or as new with a greater ID.
func (k AuditKey) Before(o AuditKey) bool {
	if !k.Time.Equal(o.Time) {
		return k.Time.After(o.Time)
	}
	return k.ID > o.ID
}

// AuditQuery selects audit events for [AuditStore.FindAuditEvents]. Its
// zero value selects every event. The conditions combine: an event is
// selected when it meets all of them.
type AuditQuery struct {
	// Since, if not zero, selects events whose Time is not before it.
	Since time.Time
	// Until, if not zero, selects events whose Time is before it.
	Until time.Time
	// ClientID, if not empty, selects events whose ClientID is exactly
	// this (byte for byte).
	ClientID string
	// Subject, if not empty, selects events whose Subject is exactly this.
	Subject string
	// Types, if not empty, selects events whose Type is one of them.
	Types []string
	// After, if its ID is not empty, selects the events that come after
	// it in the trail's order (older, or as old with a smaller ID): the
	// key of the last event of the previous page.
	After AuditKey
	// Limit, if positive, is the most events returned (the first ones in
	// the trail's order); zero or negative means no limit.
	Limit int
}

// AuditStore keeps the audit trail. It is optional: a [Store] that
// implements it gets the provider's audit events kept and queryable;
// the provider finds it by type assertion. Implementations must be safe
// for concurrent use, and events appended by many processes sharing the
// backend all end up in one trail.
type AuditStore interface {
	// AppendAuditEvents stores events, all of them or none. An event
	// whose Time and ID are those of a stored event is not stored again,
	// so a batch whose append failed with an unknown outcome may be
	// appended again.
	AppendAuditEvents(ctx context.Context, events []AuditEvent) error
	// FindAuditEvents returns the events q selects, in the trail's order
	// (see [AuditKey]): newest first, and for events of the same Time by
	// ID, greater first. No event is an empty result, not an error.
	FindAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// DeleteAuditEvents removes the events whose Time is before before
	// (strictly: an event of that very Time is kept) and returns how many
	// it removed: the retention sweep.
	DeleteAuditEvents(ctx context.Context, before time.Time) (int64, error)
}
