package storagetest

import (
	"runtime"
	"time"

	"github.com/gatehouse/gatehouse/internal/racetest"
	"github.com/gatehouse/gatehouse/storage"
)

// Fixed times. Live records expire in 2030, so a backend that wrongly reads
// the wall clock keeps them; expired records use instants before 2001, so the
// same backend would also see them as expired. Every time has microsecond
// precision, the finest a backend must keep.
var (
	// base is the suite's "now".
	base = time.Date(2030, time.January, 2, 3, 4, 5, 123456000, time.UTC)
	// longAgo is an instant every clock agrees has passed.
	longAgo = time.Date(2000, time.February, 3, 4, 5, 6, 654321000, time.UTC)
	// kolkata is a zone with a half-hour offset east of UTC, so that its
	// wall-clock reading differs from UTC's in hours, minutes and date.
	kolkata = time.FixedZone("UTC+05:30", 5*60*60+30*60)
	// newYork is a zone west of UTC.
	newYork = time.FixedZone("UTC-05:00", -5*60*60)
)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// binary returns n bytes that run through every byte value, so that a
// backend storing them as text (and so mangling invalid UTF-8 or NUL) fails.
func binary(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ seed
	}
	return b
}

// newClient returns a confidential client with every field set.
func newClient(id string) storage.Client {
	return storage.Client{
		ID:          id,
		Name:        "Client " + id,
		Description: "Runs the nightly export of " + id + "; owner: ops@example.com",
		LogoURI:     "https://app.example.com/logo.png?v=2",
		ClientURI:   "https://app.example.com/",
		Secrets: []storage.SecretHash{
			{Hash: "sha256$new-" + id, CreatedAt: at(2 * time.Hour)},
			{Hash: "sha256$old-" + id, CreatedAt: at(time.Hour), ExpiresAt: at(3 * time.Hour)},
		},
		RedirectURIs:                []string{"https://app.example.com/cb", "http://127.0.0.1:8080/cb?x=1"},
		PostLogoutRedirectURIs:      []string{"https://app.example.com/bye"},
		GrantTypes:                  []string{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypes:               []string{"code", "code id_token"},
		Scopes:                      []string{"openid", "offline_access", "assets:read"},
		Audience:                    []string{"https://api.example.com", "urn:example:other"},
		TokenEndpointAuthMethod:     "client_secret_basic",
		TokenEndpointAuthSigningAlg: "ES256",
		JWKS:                        []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83O","y":"x_FE"}]}`),
		RequirePKCE:                 true,
		RequiredRole:                "portal-user",
		Customer:                    "acme",
		PermissionScope:             []string{"assets:*", "DATASTORE-VIEWER"},
		IPRanges:                    []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.1-192.0.2.9"},
		IntrospectAudiences:         []string{"https://api.example.com", "urn:example:resource server"},
		RequireMFA:                  true,
		RefreshBoundToLogin:         true,
		AcceptsAPIKeys:              true, // on a confidential client: the store keeps what it is given
		ApplicationUser:             "bot-" + id,
		AccessTokenFormat:           "jwt",
		AccessTokenLifetime:         5 * time.Minute,
		RefreshTokenLifetime:        720 * time.Hour,
		AuthCodeLifetime:            30 * time.Second,
		IDTokenLifetime:             time.Hour + 500*time.Millisecond,
		CreatedAt:                   base,
		UpdatedAt:                   at(time.Minute),
	}
}

// newPublicClient returns a public client: no secrets, auth method none.
func newPublicClient(id string) storage.Client {
	return storage.Client{
		ID:                      id,
		Name:                    "Public " + id,
		Public:                  true,
		RedirectURIs:            []string{"com.example.app:/cb"},
		GrantTypes:              []string{"authorization_code"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"openid"},
		TokenEndpointAuthMethod: "none",
		AccessTokenFormat:       "opaque",
		CreatedAt:               base,
		UpdatedAt:               base,
	}
}

// newToken returns an active token of kind with every Request field set;
// its LoginSID is "sid-" + requestID. Refresh tokens get an AccessSignature of "at-" + sig and a RotatedAt: an
// active token never has one in use, but a backend stores what it is given,
// and the round trips of the fixture check the column.
func newToken(kind storage.TokenKind, sig, requestID string) storage.Token {
	t := storage.Token{
		Signature: sig,
		Kind:      kind,
		Request: storage.Request{
			ID:                requestID,
			RequestedAt:       base,
			ClientID:          "client-1",
			Subject:           "alice",
			RequestedScopes:   []string{"openid", "offline_access", "email"},
			GrantedScopes:     []string{"openid", "offline_access"},
			RequestedAudience: []string{"https://api.example.com", "urn:x"},
			GrantedAudience:   []string{"https://api.example.com"},
			Form: map[string][]string{
				"redirect_uri": {"https://app.example.com/cb"},
				"nonce":        {"n-0S6_WzA2Mj"},
				"scope":        {"openid offline_access email"},
			},
			Session:  append([]byte(`{"sub":"alice"}`), binary(300, 0x5a)...),
			LoginSID: "sid-" + requestID,
		},
		ExpiresAt: at(time.Hour),
		Active:    true,
		CreatedAt: at(-2 * time.Minute),
	}
	if kind == storage.KindRefreshToken {
		t.AccessSignature = "at-" + sig
		t.RotatedAt = at(-time.Minute)
	}
	return t
}

// newConsent returns a consent that expires.
func newConsent(subject, clientID string) storage.Consent {
	return storage.Consent{
		Subject:   subject,
		ClientID:  clientID,
		Scopes:    []string{"openid", "email", "assets:read"},
		GrantedAt: base,
		ExpiresAt: at(30 * 24 * time.Hour),
	}
}

// newLoginSession returns a login session with every field set; its SID
// is "sid-" + id.
func newLoginSession(id, subject string) storage.LoginSession {
	return storage.LoginSession{
		ID:        id,
		SID:       "sid-" + id,
		Subject:   subject,
		AuthTime:  base,
		AMR:       []string{"pwd", "otp"},
		Claims:    []byte(`{"sub":"` + subject + `","email":"` + subject + `@example.com","groups":["a","b"]}`),
		ExpiresAt: at(12 * time.Hour),
	}
}

// newFlow returns an authorization flow part way through.
func newFlow(id string) storage.AuthFlow {
	return storage.AuthFlow{
		ID:          id,
		Query:       "response_type=code&client_id=client-1&scope=openid&state=xyz",
		ClientID:    "client-1",
		Subject:     "alice",
		AuthTime:    base,
		AMR:         []string{"pwd"},
		Done:        []string{"login"},
		RequestedAt: at(-time.Minute),
		ClientIP:    "2001:db8::7",
		Browser:     "browser-digest-" + id,
		Tenant:      "acme",
		User:        []byte(`{"subject":"alice","username":"alice@example.com"}`),
		Data:        map[string]string{"color": "blue", "answer": "42"}, // a custom step's extras
		CSRF:        "csrf-" + id,
		ExpiresAt:   at(10 * time.Minute),
	}
}

// newKey returns an active, unretired signing key created at createdAt.
func newKey(id string, createdAt time.Time) storage.SigningKey {
	return storage.SigningKey{
		ID:         id,
		Algorithm:  "ES256",
		PrivateKey: binary(138, byte(len(id))),
		CreatedAt:  createdAt,
		ActiveAt:   createdAt.Add(time.Hour),
	}
}

// newMFA returns a confirmed MFA record with every field set: a binary
// secret (as a sealed one is), recovery code hashes, failures and a lockout.
// The counter needs more than 32 bits, so a backend keeping it in an int32
// column fails.
func newMFA(subject string) storage.MFARecord {
	return storage.MFARecord{
		Subject:       subject,
		TOTPSecret:    binary(61, byte(len(subject))),
		TOTPConfirmed: true,
		// A pending replacement: its bytes round-trip like the secret's.
		TOTPPendingSecret: binary(33, byte(len(subject))^0x33),
		TOTPLastCounter:   1<<33 + 7,
		RecoveryCodes:     []string{"sha256$r1-" + subject, "sha256$r2-" + subject, "sha256$r3-" + subject},
		Failures:          3,
		LockedUntil:       at(30 * time.Second),
		CreatedAt:         at(-24 * time.Hour),
		UpdatedAt:         at(time.Minute),
	}
}

// newThrottle returns a throttle with every field set: failures, a lockout
// and an expiry.
func newThrottle(key string) storage.Throttle {
	return storage.Throttle{
		Key:         key,
		Failures:    5,
		LockedUntil: at(5 * time.Minute),
		ExpiresAt:   at(24 * time.Hour),
	}
}

// The single-use races run raceRounds times, each with raceWidth
// goroutines on a fresh record: one round can miss a check-then-act bug by
// luck, several rarely do.
const (
	raceWidth  = 50
	raceRounds = 5
)

// race calls f(0) ... f(n-1) in n goroutines released at one instant and
// returns their errors indexed by i; wins counts the nil ones.
var (
	race = racetest.Run[error]
	wins = racetest.Nils
)

// dawdle lets other goroutines run. The concurrent update tests call it
// inside update, between the read and the write of a read-modify-write, so
// that a backend that reads and writes in separate steps loses updates
// visibly instead of by luck.
func dawdle() { runtime.Gosched() }
