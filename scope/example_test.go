package scope_test

import (
	"fmt"

	"github.com/gatehouse/gatehouse/scope"
)

// What alice gets on the demo portal in tenant acme: the client may hand
// out assets:read and registry:read, she holds assets:* and registry:read.
func ExampleIntersect() {
	requested := scope.MustNew("assets:read", "assets:write", "registry:read")
	client := scope.MustNew("assets:read", "registry:read")
	user := scope.MustNew("assets:*", "registry:read")
	r := scope.Intersect(requested, client, user)
	fmt.Println(r.Granted)
	for _, d := range r.Dropped {
		fmt.Printf("dropped %s: %s\n", d.Permission, d.Reason)
	}
	// Output:
	// assets:read registry:read
	// dropped assets:write: outside the client's permission scope
}
