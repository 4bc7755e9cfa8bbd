package memory

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gatehouse/gatehouse/storage"
)

// A token's record gives back what was stored, whichever form its granted
// scopes and its creation time take: granted scopes equal to the
// requested ones (kept as a mark), different, fewer, nil beside requested
// ones and the reverse; a CreatedAt equal to RequestedAt (kept as a zero
// difference), before it, long after it, and nanoseconds on either side;
// zero times; a RotatedAt; request IDs kept as a UUID's 16 bytes and as
// text; forms and audiences of every size (in the token's shape).
func TestTokenRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 3, 14, 0, 0, 999_999_999, time.UTC)
	base := ccAccessToken(7, at)
	base.CreatedAt, base.ExpiresAt = at, at.Add(time.Hour)
	base.Request.RequestedAt = at
	for _, tc := range []struct {
		name   string
		mutate func(*storage.Token)
	}{
		{"granted equal to requested", func(*storage.Token) {}},
		{"granted differs", func(t *storage.Token) { t.Request.GrantedScopes = []string{"assets:write"} }},
		{"granted fewer", func(t *storage.Token) {
			t.Request.RequestedScopes = []string{"a", "b"}
			t.Request.GrantedScopes = []string{"a"}
		}},
		{"granted nil, requested set", func(t *storage.Token) { t.Request.GrantedScopes = nil }},
		{"requested nil, granted set", func(t *storage.Token) { t.Request.RequestedScopes = nil }},
		{"both empty, not nil", func(t *storage.Token) { t.Request.RequestedScopes, t.Request.GrantedScopes = []string{}, []string{} }},
		{"both nil", func(t *storage.Token) { t.Request.RequestedScopes, t.Request.GrantedScopes = nil, nil }},
		{"created before requested", func(t *storage.Token) { t.CreatedAt = at.Add(-90*time.Second - 5) }},
		{"created long after, nanoseconds below", func(t *storage.Token) { t.CreatedAt = time.Date(2031, 1, 1, 0, 0, 0, 1, time.UTC) }},
		{"zero times", func(t *storage.Token) {
			t.Request.RequestedAt, t.CreatedAt, t.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
		}},
		{"requested zero, created set", func(t *storage.Token) { t.Request.RequestedAt = time.Time{} }},
		{"rotated", func(t *storage.Token) { t.RotatedAt = at.Add(time.Minute) }},
		{"request ID a UUID", func(t *storage.Token) { t.Request.ID = "9f86d081-884c-4d63-a5e0-e6b1c8b0a0f2" }},
		{"request ID an uppercase UUID", func(t *storage.Token) { t.Request.ID = "9F86D081-884C-4D63-A5E0-E6B1C8B0A0F2" }},
		{"request ID a UUID without dashes", func(t *storage.Token) { t.Request.ID = "9f86d081884c4d63a5e0e6b1c8b0a0f2" }},
		{"request ID empty", func(t *storage.Token) { t.Request.ID = "" }},
		{"request ID of 300 bytes", func(t *storage.Token) { t.Request.ID = strings.Repeat("r", 300) }},
		{"form of many fields", func(t *storage.Token) {
			t.Request.Form = map[string][]string{}
			for i := range 12 {
				t.Request.Form[fmt.Sprint("field", i)] = []string{fmt.Sprint(i), "x"}
			}
		}},
		{"form nil", func(t *storage.Token) { t.Request.Form = nil }},
		{"form empty, a value nil", func(t *storage.Token) { t.Request.Form = map[string][]string{"a": nil} }},
		{"audiences", func(t *storage.Token) {
			t.Request.RequestedAudience, t.Request.GrantedAudience = []string{"https://api"}, []string{}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := base
			want.Request.RequestedScopes = append([]string(nil), base.Request.RequestedScopes...)
			want.Request.GrantedScopes = append([]string(nil), base.Request.GrantedScopes...)
			tc.mutate(&want)
			s := New()
			ctx := t.Context()
			if err := s.CreateToken(ctx, want); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetToken(ctx, want.Kind, want.Signature)
			if err != nil {
				t.Fatal(err)
			}
			assert.Equal(t, want, got)
			if len(got.Request.GrantedScopes) > 0 && len(got.Request.RequestedScopes) > 0 {
				got.Request.GrantedScopes[0] = "changed"
				assert.NotEqual(t, "changed", got.Request.RequestedScopes[0], "the two lists share no memory")
			}
		})
	}
}
