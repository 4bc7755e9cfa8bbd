package provider

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gatehouse/gatehouse/storage"
)

// legacyFlow is a flow as the release before the typed fields stored it:
// the provider's values under keys of Data, next to a custom step's extra.
func legacyFlow() *flow {
	return &flow{AuthFlow: storage.AuthFlow{Data: map[string]string{
		"rat": "1700000000", "ip": "192.0.2.1", "browser": "old-digest", "tenant": "acme",
		"user": `{"sub":"s"}`, "custom": "kept",
	}}}
}

func TestFlowAccessorsFallBackToDataKeys(t *testing.T) {
	fl := legacyFlow()
	assert.Equal(t, time.Unix(1700000000, 0).UTC(), fl.requestedAt())
	assert.Equal(t, "192.0.2.1", fl.clientIP())
	assert.Equal(t, "old-digest", fl.browserDigest())
	assert.Equal(t, "acme", fl.chosenTenant())
	assert.Equal(t, []byte(`{"sub":"s"}`), fl.userJSON())

	var empty flow // neither field nor key (Data nil, as a store may return)
	assert.True(t, empty.requestedAt().IsZero())
	assert.Empty(t, empty.clientIP())
	assert.Empty(t, empty.browserDigest())
	assert.Empty(t, empty.chosenTenant())
	assert.Nil(t, empty.userJSON())
}

// The setters write the fields and drop the old keys, so that a value set
// now always wins and nothing stale is left in Data; a custom step's keys
// stay.
func TestFlowSettersReplaceDataKeys(t *testing.T) {
	fl := legacyFlow()
	at := time.Date(2030, 1, 2, 3, 4, 5, 999_000_000, time.FixedZone("x", 3600))
	fl.setRequestedAt(at)
	fl.setClientIP(netip.MustParseAddr("2001:db8::1"))
	fl.setBrowserDigest("new-digest")
	fl.chooseTenant("globex")
	fl.setUserJSON([]byte(`{"sub":"t"}`))
	assert.Equal(t, map[string]string{"custom": "kept"}, fl.Data)

	want := time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC) // whole seconds, UTC, as "rat" was
	assert.Equal(t, want, fl.RequestedAt)
	assert.Equal(t, want, fl.requestedAt())
	assert.Equal(t, "2001:db8::1", fl.clientIP())
	assert.Equal(t, "new-digest", fl.browserDigest())
	assert.Equal(t, "globex", fl.chosenTenant())
	assert.Equal(t, []byte(`{"sub":"t"}`), fl.userJSON())

	// A new sign-in forgets the tenant, whichever way it was stored.
	fl.chooseTenant("")
	assert.Empty(t, fl.chosenTenant())
	old := legacyFlow()
	old.chooseTenant("")
	assert.Empty(t, old.chosenTenant(), "the old key is dropped too")
}
