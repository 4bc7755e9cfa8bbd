package provider

// PasswordKey exposes the throttle key of a username to the tests.
var PasswordKey = passwordKey
