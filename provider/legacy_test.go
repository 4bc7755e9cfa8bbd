package provider_test

import "github.com/gatehouse/gatehouse/provider"

// allowLegacyGrants is the newEnv mutator for tests of the implicit and
// password grants, which are off by default.
func allowLegacyGrants(c *provider.Config) { c.AllowLegacyGrants = true }
