package provider

// PasswordKey exposes the throttle key of a username to the tests.
var PasswordKey = passwordKey

// ClientAuthKey exposes the throttle key of a (client ID, address) pair to
// the tests.
var ClientAuthKey = clientAuthKey

// BcryptRuns returns how many bcrypt comparisons of client secrets p has
// run.
func BcryptRuns(p *Provider) int64 { return p.hasher.BcryptRuns() }
