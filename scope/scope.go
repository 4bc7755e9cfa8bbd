// Package scope is the algebra of permissions: parsing, wildcard matching,
// expansion of named permission scopes and roles through a catalog, and the
// intersection that decides what a session may have.
//
// A permission is a string such as "assets:read". A pattern ends in ":*"
// and covers every permission with that prefix ("assets:*" covers
// "assets:read" and "assets:write:own"). The package has no HTTP and no
// OAuth dependencies.
package scope

import (
	"fmt"
	"slices"
	"strings"
)

// ParseError reports an invalid permission.
type ParseError struct {
	Input  string
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("scope: parse %q: %s", e.Input, e.Reason)
}

// Check reports whether p is a well-formed permission or pattern: non-empty,
// printable ASCII without spaces, quotes or backslashes, at most 256 bytes,
// and a "*" only as the whole last segment after a colon (or "*" alone,
// which covers everything).
func Check(p string) error {
	switch {
	case p == "":
		return &ParseError{p, "empty permission"}
	case len(p) > 256:
		return &ParseError{p[:32] + "...", "longer than 256 bytes"}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return &ParseError{p, fmt.Sprintf("invalid character %q", c)}
		}
	}
	if i := strings.IndexByte(p, '*'); i >= 0 {
		if p != "*" && (i != len(p)-1 || i == 0 || p[i-1] != ':') {
			return &ParseError{p, `"*" may only stand alone or as the last segment after ":"`}
		}
	}
	if strings.HasPrefix(p, ":") || strings.Contains(p, "::") || (strings.HasSuffix(p, ":") && p != ":") {
		return &ParseError{p, "empty segment"}
	}
	return nil
}

// Set is a normalised set of permissions: sorted, without duplicates, and
// without members covered by a pattern in the same set. The zero value is
// the empty set.
type Set []string

// Parse reads a space-separated list of permissions.
func Parse(s string) (Set, error) {
	return New(strings.Fields(s)...)
}

// New returns the set of the given permissions, or an error naming the
// first malformed one.
func New(perms ...string) (Set, error) {
	for _, p := range perms {
		if err := Check(p); err != nil {
			return nil, err
		}
	}
	return normalize(perms), nil
}

// MustNew is New for constants in tests and examples; it panics on error.
func MustNew(perms ...string) Set {
	s, err := New(perms...)
	if err != nil {
		panic(err)
	}
	return s
}

// normalize sorts, deduplicates and drops members covered by another.
func normalize(perms []string) Set {
	out := make(Set, 0, len(perms))
	for _, p := range perms {
		redundant := false
		for _, q := range perms {
			if q != p && covers(q, p) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// covers reports whether pattern (or permission) a covers b.
func covers(a, b string) bool {
	if a == b || a == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(a, "*"); ok {
		return strings.HasPrefix(b, prefix) && len(b) > len(prefix)
	}
	return false
}

// Covers reports whether s grants permission p (exactly or by a pattern).
// If p is itself a pattern, s must hold that pattern or a wider one.
func (s Set) Covers(p string) bool {
	for _, q := range s {
		if covers(q, p) {
			return true
		}
	}
	return false
}

// meet is the largest permission covered by both a and b, if any.
func meet(a, b string) (string, bool) {
	switch {
	case covers(a, b):
		return b, true
	case covers(b, a):
		return a, true
	}
	return "", false
}

// Intersect returns the permissions covered by both sets.
func (s Set) Intersect(t Set) Set {
	var out []string
	for _, a := range s {
		for _, b := range t {
			if m, ok := meet(a, b); ok {
				out = append(out, m)
			}
		}
	}
	return normalize(out)
}

// Union returns the permissions covered by either set.
func (s Set) Union(t Set) Set {
	return normalize(append(slices.Clone(s), t...))
}

// String joins the set with spaces.
func (s Set) String() string { return strings.Join(s, " ") }

// Catalog names permission scopes and roles: each name expands to a set of
// permissions (for example "DATASTORE-VIEWER" to "datastore:read
// datastore:list"). A Catalog is read-only once built; it is safe for
// concurrent use.
type Catalog map[string]Set

// Expand returns the permissions of the given names: a catalog entry
// expands to its set, any other name is taken as a permission itself.
// Malformed literal permissions are skipped.
func (c Catalog) Expand(names ...string) Set {
	var out []string
	for _, n := range names {
		if set, ok := c[n]; ok {
			out = append(out, set...)
		} else if Check(n) == nil {
			out = append(out, n)
		}
	}
	return normalize(out)
}

// Dropped is a requested permission left out of a session, and why.
type Dropped struct {
	Permission string
	Reason     string
}

// Reasons a permission is dropped.
const (
	ReasonClient = "outside the client's permission scope"
	ReasonUser   = "the user does not hold it in the chosen tenant"
)

// Result is what a session may have.
type Result struct {
	// Granted is requested ∩ client ∩ user.
	Granted Set
	// Dropped lists each requested permission that was not granted in full.
	Dropped []Dropped
}

// Intersect returns what a session may have: the requested permissions
// intersected with the client's permission scope and with the user's
// permissions, wildcards honoured on every side. A nil client set means the
// client sets no bound (only the user's permissions apply). It reports each
// requested permission that is not covered by the result, with the first
// reason it fell.
func Intersect(requested, client, user Set) Result {
	req := normalize(requested)
	bounded := req
	if client != nil {
		bounded = req.Intersect(client)
	}
	granted := bounded.Intersect(user)
	var dropped []Dropped
	for _, r := range req {
		if granted.Covers(r) {
			continue
		}
		reason := ReasonUser
		if client != nil && !client.Covers(r) {
			reason = ReasonClient
		}
		dropped = append(dropped, Dropped{Permission: r, Reason: reason})
	}
	return Result{Granted: granted, Dropped: dropped}
}
