package storagetest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// These check that the suite catches a backend that revokes only part of
// a token family, or more than the family, or that revokes a sign-in's
// grants by the wrong key, or whose DeleteExpired is off by one at its
// cut-off: bugs that cases with one active token per family, or with
// records a millisecond or more from the cut-off, miss. As in
// brokentx_test.go, the suite runs against each broken store in a child
// process (this test binary, with brokenStoreEnv set), and the parent reads
// which cases failed.

const brokenStoreEnv = "GATEHOUSE_STORAGETEST_BROKEN_STORE"

// badRevoke is the memory store with a RevokeFamily that a backend could
// get wrong: it revokes the tokens of the kind whose family matches the
// request ID, and with firstOnly only the first active one, in creation
// order (as a backend that updates one row instead of all would). With
// loginMatches set, RevokeFamily is the memory store's and
// RevokeLoginGrants is the one that goes wrong: it revokes every active
// token loginMatches reports true for, and records no ended sign-in.
type badRevoke struct {
	*memory.Store
	matches      func(family, requestID string) bool
	firstOnly    bool
	loginMatches func(tok storage.Token, sid string) bool
	// userMatches, if set, makes RevokeUserClientGrants the one that goes
	// wrong in the same way.
	userMatches func(tok storage.Token, subject, clientID string) bool

	mu      sync.Mutex
	created []badRevokeKey // every token created, in order
}

type badRevokeKey struct {
	kind storage.TokenKind
	sig  string
}

func (s *badRevoke) CreateToken(ctx context.Context, t storage.Token) error {
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.created = append(s.created, badRevokeKey{t.Kind, t.Signature})
	return nil
}

func (s *badRevoke) RevokeFamily(ctx context.Context, kind storage.TokenKind, requestID string) error {
	if s.matches == nil {
		return s.Store.RevokeFamily(ctx, kind, requestID)
	}
	return s.revokeWhere(ctx, func(tok storage.Token) bool { return tok.Kind == kind && s.matches(tok.Request.ID, requestID) })
}

func (s *badRevoke) RevokeLoginGrants(ctx context.Context, sid string, until time.Time) error {
	if s.loginMatches == nil {
		return s.Store.RevokeLoginGrants(ctx, sid, until)
	}
	return s.revokeWhere(ctx, func(tok storage.Token) bool { return s.loginMatches(tok, sid) })
}

func (s *badRevoke) RevokeUserClientGrants(ctx context.Context, subject, clientID string, until time.Time) error {
	if s.userMatches == nil {
		return s.Store.RevokeUserClientGrants(ctx, subject, clientID, until)
	}
	return s.revokeWhere(ctx, func(tok storage.Token) bool { return s.userMatches(tok, subject, clientID) })
}

// revokeWhere makes the active tokens revoke reports true for inactive,
// in creation order; with firstOnly only the first.
func (s *badRevoke) revokeWhere(ctx context.Context, revoke func(storage.Token) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	created := slices.Clone(s.created)
	s.mu.Unlock()
	seen := map[badRevokeKey]bool{} // a signature deleted and created again is listed twice
	for _, k := range created {
		if seen[k] {
			continue
		}
		seen[k] = true
		tok, err := s.GetToken(ctx, k.kind, k.sig)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !tok.Active || !revoke(tok) {
			continue
		}
		tok.Active = false
		if err := s.DeleteToken(ctx, k.kind, k.sig); err != nil {
			return err
		}
		if err := s.Store.CreateToken(ctx, tok); err != nil {
			return err
		}
		if s.firstOnly {
			return nil
		}
	}
	return nil
}

// shiftedExpiry is the memory store with a DeleteExpired that compares
// expiries with the cut-off moved by shift: one nanosecond later removes
// a record expiring exactly at the cut-off (<= instead of <), one
// microsecond earlier keeps a record that expired a microsecond before it.
type shiftedExpiry struct {
	*memory.Store
	shift time.Duration
}

func (s *shiftedExpiry) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	return s.Store.DeleteExpired(ctx, before.Add(s.shift))
}

// badAudit is the memory store with an audit trail a backend could get
// wrong: with timeCursor, a page after a cursor starts at the next older
// time, skipping the rest of the events of the cursor's time (a cursor of
// the time alone); with insertionTies, events of the same time come in the
// order they were appended rather than by ID (a backend ordering by time
// alone); with inclusiveSweep, DeleteAuditEvents also removes the events
// of exactly its cut-off.
type badAudit struct {
	*memory.Store
	timeCursor, insertionTies, inclusiveSweep bool

	mu       sync.Mutex
	appended map[storage.AuditKey]int // the order events were first appended in
}

func (s *badAudit) AppendAuditEvents(ctx context.Context, events []storage.AuditEvent) error {
	if err := s.Store.AppendAuditEvents(ctx, events); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appended == nil {
		s.appended = map[storage.AuditKey]int{}
	}
	for _, e := range events {
		if _, ok := s.appended[e.Key()]; !ok {
			s.appended[e.Key()] = len(s.appended)
		}
	}
	return nil
}

func (s *badAudit) FindAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	limit, after := q.Limit, q.After
	q.Limit, q.After = 0, storage.AuditKey{}
	all, err := s.Store.FindAuditEvents(ctx, q)
	if err != nil {
		return nil, err
	}
	if s.insertionTies {
		s.mu.Lock()
		slices.SortStableFunc(all, func(a, b storage.AuditEvent) int {
			if c := b.Time.Compare(a.Time); c != 0 {
				return c
			}
			return s.appended[a.Key()] - s.appended[b.Key()]
		})
		s.mu.Unlock()
	}
	var out []storage.AuditEvent
	for _, e := range all {
		switch {
		case after.ID == "":
		case s.timeCursor && !e.Time.Before(after.Time):
			continue
		case !s.timeCursor && !after.Before(e.Key()):
			continue
		}
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	if out == nil {
		out = []storage.AuditEvent{}
	}
	return out, nil
}

func (s *badAudit) DeleteAuditEvents(ctx context.Context, before time.Time) (int64, error) {
	if s.inclusiveSweep {
		before = before.Add(time.Nanosecond)
	}
	return s.Store.DeleteAuditEvents(ctx, before)
}

// TestBrokenStore is the child: it runs the suite on the broken store
// brokenStoreEnv names, and nothing without it.
func TestBrokenStore(t *testing.T) {
	var newStore func() storage.Store
	switch variant := os.Getenv(brokenStoreEnv); variant {
	case "":
		t.Skip("run by TestSuiteCatchesBrokenStores")
	case "revoke-first":
		newStore = func() storage.Store {
			return &badRevoke{Store: memory.New(), matches: func(f, id string) bool { return f == id }, firstOnly: true}
		}
	case "revoke-prefix":
		newStore = func() storage.Store { return &badRevoke{Store: memory.New(), matches: strings.HasPrefix} }
	case "revoke-fold":
		newStore = func() storage.Store { return &badRevoke{Store: memory.New(), matches: strings.EqualFold} }
	case "login-by-family":
		// Revokes the family named like the sign-in instead.
		newStore = func() storage.Store {
			return &badRevoke{Store: memory.New(), loginMatches: func(tok storage.Token, sid string) bool { return tok.Request.ID == sid }}
		}
	case "login-prefix":
		newStore = func() storage.Store {
			return &badRevoke{Store: memory.New(), loginMatches: func(tok storage.Token, sid string) bool {
				return sid != "" && strings.HasPrefix(tok.Request.LoginSID, sid)
			}}
		}
	case "login-empty":
		// Revokes the grants of no sign-in when asked for "".
		newStore = func() storage.Store {
			return &badRevoke{Store: memory.New(), loginMatches: func(tok storage.Token, sid string) bool { return tok.Request.LoginSID == sid }}
		}
	case "login-no-record":
		// Revokes the right tokens, but does not record the sign-in as
		// ended: a token created afterwards is active.
		newStore = func() storage.Store {
			return &badRevoke{Store: memory.New(), loginMatches: func(tok storage.Token, sid string) bool {
				return sid != "" && tok.Request.LoginSID == sid
			}}
		}
	case "login-tokens-only":
		// Revokes access and refresh tokens, not codes (nor PKCE or OIDC records).
		newStore = func() storage.Store {
			return &badRevoke{Store: memory.New(), loginMatches: func(tok storage.Token, sid string) bool {
				return sid != "" && tok.Request.LoginSID == sid && (tok.Kind == storage.KindAccessToken || tok.Kind == storage.KindRefreshToken)
			}}
		}
	case "user-grants-subject-only":
		// Revokes every grant of the user, to every client.
		newStore = func() storage.Store {
			return &badRevoke{Store: memory.New(), userMatches: func(tok storage.Token, subject, _ string) bool {
				return subject != "" && tok.Request.Subject == subject
			}}
		}
	case "user-grants-no-record":
		// Revokes the right tokens, but records no revoked family: a
		// token a refresh under way creates afterwards is active.
		newStore = func() storage.Store {
			return &badRevoke{Store: memory.New(), userMatches: func(tok storage.Token, subject, clientID string) bool {
				return subject != "" && tok.Request.Subject == subject && tok.Request.ClientID == clientID
			}}
		}
	case "audit-time-cursor":
		newStore = func() storage.Store { return &badAudit{Store: memory.New(), timeCursor: true} }
	case "audit-insertion-ties":
		newStore = func() storage.Store { return &badAudit{Store: memory.New(), insertionTies: true} }
	case "audit-inclusive-sweep":
		newStore = func() storage.Store { return &badAudit{Store: memory.New(), inclusiveSweep: true} }
	case "expiry-inclusive":
		newStore = func() storage.Store { return &shiftedExpiry{Store: memory.New(), shift: time.Nanosecond} }
	case "expiry-late":
		newStore = func() storage.Store { return &shiftedExpiry{Store: memory.New(), shift: -time.Microsecond} }
	default:
		t.Fatalf("unknown %s=%q", brokenStoreEnv, variant)
	}
	Run(t, func(t *testing.T) storage.Store { return newStore() })
}

func TestSuiteCatchesBrokenStores(t *testing.T) {
	for _, tc := range []struct {
		variant  string
		failing  []string // the cases of the whole suite that must fail, in suite order
		messages []string // regular expressions, each must match the output
	}{
		{
			variant: "revoke-first",
			failing: []string{"RevokeFamily/AccessTokens", "RevokeFamily/RefreshTokens"},
			messages: []string{
				`after revoking: RevokeFamily\(access_token, fam\) makes member fam-5 inactive`,
				`after revoking: RevokeFamily\(refresh_token, fam\) makes member fam-5 inactive`,
				`after revoking twice: RevokeFamily\(refresh_token, fam\) makes member fam-5 inactive`,
			},
		},
		{
			variant: "revoke-prefix",
			failing: []string{"RevokeFamily/AccessTokens", "RevokeFamily/RefreshTokens"},
			messages: []string{
				`after revoking: RevokeFamily\(access_token, fam\) leaves access_token prefix of family "fam2" unchanged`,
				`after revoking: RevokeFamily\(refresh_token, fam\) leaves refresh_token prefix of family "fam2" unchanged`,
			},
		},
		{
			variant: "revoke-fold",
			failing: []string{"RevokeFamily/AccessTokens", "RevokeFamily/RefreshTokens"},
			messages: []string{
				`after revoking: RevokeFamily\(access_token, fam\) leaves access_token upper of family "FAM" unchanged`,
				`after revoking: RevokeFamily\(refresh_token, fam\) leaves refresh_token upper of family "FAM" unchanged`,
			},
		},
		{
			variant: "login-by-family",
			failing: []string{"RevokeLoginGrants/EveryKind", "RevokeLoginGrants/LaterTokens"},
			messages: []string{
				`after revoking: RevokeLoginGrants\(sid\) makes authorization_code m-authorization_code inactive`,
				`after revoking: RevokeLoginGrants\(sid\) leaves access_token family-access_token of sign-in "other" and family "sid" unchanged`,
			},
		},
		{
			variant: "login-prefix",
			failing: []string{"RevokeLoginGrants/EveryKind", "RevokeLoginGrants/LaterTokens"},
			messages: []string{
				`after revoking: RevokeLoginGrants\(sid\) leaves refresh_token longer-refresh_token of sign-in "sid2" and family "fam-[ab]" unchanged`,
			},
		},
		{
			variant: "login-empty",
			failing: []string{"RevokeLoginGrants/EveryKind", "RevokeLoginGrants/LaterTokens"},
			messages: []string{
				`RevokeLoginGrants of "" and of an unknown sign-in change nothing: access_token none-access_token`,
			},
		},
		{
			variant: "login-no-record",
			failing: []string{"RevokeLoginGrants/LaterTokens"},
			messages: []string{
				`a authorization_code of the ended sign-in created afterwards is stored inactive`,
			},
		},
		{
			variant: "login-tokens-only",
			failing: []string{"RevokeLoginGrants/EveryKind", "RevokeLoginGrants/LaterTokens"},
			messages: []string{
				`after revoking: RevokeLoginGrants\(sid\) makes authorization_code m-used-code inactive|after revoking: RevokeLoginGrants\(sid\) makes pkce m-pkce inactive`,
				`after revoking: RevokeLoginGrants\(sid\) makes oidc m-oidc inactive`,
			},
		},
		{
			variant: "user-grants-subject-only",
			failing: []string{"RevokeUserClientGrants/EveryKind", "RevokeUserClientGrants/LaterTokens"},
			messages: []string{
				`after revoking: RevokeUserClientGrants\(alice, client-1\) leaves access_token client2-access_token of "alice" to "client-2" unchanged`,
			},
		},
		{
			variant: "user-grants-no-record",
			failing: []string{"RevokeUserClientGrants/LaterTokens"},
			messages: []string{
				`a authorization_code of a revoked family created afterwards is stored inactive`,
			},
		},
		{
			variant:  "audit-time-cursor",
			failing:  []string{"Audit/Pages"},
			messages: []string{`pages of 4 of \{.*\} are the whole result, in order, each event once`},
		},
		{
			variant:  "audit-insertion-ties",
			failing:  []string{"Audit/Order", "Audit/Pages"},
			messages: []string{`\[\]string\{"n", "y", "c", "b", "a", "B", "z"\}`},
		},
		{
			variant:  "audit-inclusive-sweep",
			failing:  []string{"Audit/Retention"},
			messages: []string{`DeleteAuditEvents\(2030-01-02T04:04:05\.123456Z\) removes the events before it, keeps the one exactly at it`},
		},
		{
			variant: "expiry-inclusive",
			failing: []string{"RevokeLoginGrants/LaterTokens", "RevokeUserClientGrants/LaterTokens", "Expiry/Boundary", "DenyList/Expiry"},
			messages: []string{
				`an expiry equal to the cut-off has not passed`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) removes the 11 records expiring 1µs before it, and nothing else`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) keeps the access_token expiring exactly at its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) keeps the JWT ID expiring exactly at its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) keeps the consent expiring exactly at its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) keeps the login session expiring exactly at its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) keeps the flow expiring exactly at its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) keeps the signing key expiring exactly at its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) keeps the throttle expiring exactly at its cut-off`,
				`DeleteExpired\(until\) keeps the record of the ended sign-in`,
				`DeleteExpired\(until\) keeps the record of the revoked family`,
			},
		},
		{
			variant: "expiry-late",
			failing: []string{"RevokeLoginGrants/LaterTokens", "RevokeUserClientGrants/LaterTokens", "Expiry/Boundary"},
			messages: []string{
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) removes the 11 records expiring 1µs before it, and nothing else`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) removes the refresh_token expiring 1µs before its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) removes the JWT ID expiring 1µs before its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) removes the consent expiring 1µs before its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) removes the login session expiring 1µs before its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) removes the flow expiring 1µs before its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) removes the signing key expiring 1µs before its cut-off`,
				`DeleteExpired\(2030-01-02T04:04:05\.123456Z\) removes the throttle expiring 1µs before its cut-off`,
				`DeleteExpired after until removes the record of the ended sign-in`,
				`DeleteExpired after until removes the record of the revoked family`,
			},
		},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			out, failing, passing := runSuiteChild(t, "^TestBrokenStore$", brokenStoreEnv, tc.variant)
			assert.Equal(t, tc.failing, failing, "the cases that fail:\n%s", out)
			for _, c := range passing {
				assert.False(t, slices.Contains(tc.failing, c), "%s passed", c)
			}
			assert.NotEmpty(t, passing, "the rest of the suite ran and passed:\n%s", out)
			for _, msg := range tc.messages {
				assert.True(t, regexp.MustCompile(msg).Match(out), "the output matches %q", msg)
			}
		})
	}
}

// runSuiteChild runs the tests of this binary that pattern selects, with
// env set to variant, requires them to fail, and returns their output and
// the cases of the suite (group/case, in the order they ran) that failed
// and that passed.
func runSuiteChild(t *testing.T, pattern, env, variant string) (out []byte, failing, passing []string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+pattern, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+variant)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the suite must fail on the broken store:\n%s", out)
	cases := func(verdict string) []string {
		var names []string
		for _, m := range regexp.MustCompile(`--- `+verdict+`: Test\w+/(\w+/\w+)`).FindAllSubmatch(out, -1) {
			names = append(names, string(m[1]))
		}
		return names
	}
	return out, cases("FAIL"), cases("PASS")
}
