package provider

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gatehouse/gatehouse/storage"
)

// The admin API's tables cover every field: each storage.Client field has
// a JSON member (so that a *ClientError about it is answered under a JSON
// name), and the members a caller may send are exactly the members shown.
func TestAdminFieldTables(t *testing.T) {
	ct := reflect.TypeFor[storage.Client]()
	for i := range ct.NumField() {
		name := ct.Field(i).Name
		_, ok := jsonNames[name]
		assert.True(t, ok, "storage.Client.%s has no JSON name in the admin API: add it to docFields (or jsonNames)", name)
	}
	var shown []string
	dt := reflect.TypeFor[clientDoc]()
	for i := range dt.NumField() {
		shown = append(shown, strings.Split(dt.Field(i).Tag.Get("json"), ",")[0])
	}
	var accepted []string
	for _, f := range docFields {
		accepted = append(accepted, f.name)
		assert.True(t, f.set != nil || f.readOnly != "" || f.name == "client_secret_expires_at", "%s: settable, or says why not", f.name)
	}
	assert.Equal(t, shown, accepted, "docFields follows clientDoc, member for member")
}

// A ClientError's reason is answered with the JSON names of the fields it
// mentions.
func TestAdminReasonsUseJSONNames(t *testing.T) {
	bad := fieldErrors{}
	bad.addClientErrors(&ClientError{Field: "ResponseTypes", Reason: `response type "code" needs the authorization_code grant, which must be listed in GrantTypes; see AuthCodeLifetime, not IDTokenLifetime`}, nil)
	assert.Equal(t, fieldErrors{"response_types": `response type "code" needs the authorization_code grant, which must be listed in grant_types; see auth_code_lifetime, not id_token_lifetime`}, bad)
}
