// Package oauth is Gatehouse's OAuth 2.0 and OpenID Connect protocol
// engine: github.com/ory/fosite v0.49.0 composed with Gatehouse's storage
// adapter, signing keys and token strategy. It is the only package of the
// module that imports fosite or go-jose v3 (provider's
// TestFositeStaysBehindTheEngine holds this), so that a fork or a
// replacement of the frozen fosite touches this package alone.
//
// The provider's handlers see Gatehouse types only: an [Engine] and its
// [AuthorizeRequest], [AccessRequest] and [Token]; a [Client] (the stored
// client with its parsed IP ranges and live secrets); a [Session]; errors
// made by a [Kind] (oauth.InvalidGrant.Hint("...")) and read back through
// [Translate], the one translation of an error into the answer a client
// sees. The storage half ([Store]) maps fosite's requests onto storage
// records and storage errors onto the errors fosite branches on.
package oauth
