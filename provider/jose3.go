package provider

import jose3 "github.com/go-jose/go-jose/v3"

// josev3JSONWebKeySet is the one go-jose v3 type Gatehouse names: fosite's
// JWKSFetcherStrategy speaks v3. Everything else uses v4.
type josev3JSONWebKeySet = jose3.JSONWebKeySet
