package provider

import (
	"context"
	"errors"
)

// ErrInvalidCredentials is what a [UserAuthenticator] returns for an
// unknown user or a wrong password. The provider shows the same message for
// both. Any other error means the user backend failed (the user sees a
// "try again later" page and the token endpoint answers 503).
var ErrInvalidCredentials = errors.New("provider: invalid username or password")

// ErrUserNotFound is what a [UserLookup] returns for a subject that no
// longer exists; tokens of that user then stop working at userinfo.
var ErrUserNotFound = errors.New("provider: user not found")

// User is an end user as the host knows it. Subject is required and must
// never be reused for another person; the other fields feed the claims of
// the scopes profile, email and groups.
type User struct {
	// Subject is the stable, unique user identifier (the sub claim).
	Subject string `json:"sub"`
	// Username is the login name (preferred_username and username claims).
	Username string `json:"username,omitempty"`
	// Name is the full name.
	Name string `json:"name,omitempty"`
	// GivenName and FamilyName are the name parts.
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	// Picture is a URL of the user's picture.
	Picture string `json:"picture,omitempty"`
	// Email and EmailVerified feed the email scope.
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	// Groups feed the groups scope.
	Groups []string `json:"groups,omitempty"`
}

// UserAuthenticator checks a username and password. It must return
// [ErrInvalidCredentials] for an unknown user or a wrong password, and
// should take the same time in both cases.
type UserAuthenticator interface {
	Authenticate(ctx context.Context, username, password string) (User, error)
}

// UserAuthenticatorFunc adapts a function to [UserAuthenticator].
type UserAuthenticatorFunc func(ctx context.Context, username, password string) (User, error)

// Authenticate calls f.
func (f UserAuthenticatorFunc) Authenticate(ctx context.Context, username, password string) (User, error) {
	return f(ctx, username, password)
}

// UserLookup returns a user's current data by subject, or
// [ErrUserNotFound].
type UserLookup interface {
	LookupUser(ctx context.Context, subject string) (User, error)
}

// UserLookupFunc adapts a function to [UserLookup].
type UserLookupFunc func(ctx context.Context, subject string) (User, error)

// LookupUser calls f.
func (f UserLookupFunc) LookupUser(ctx context.Context, subject string) (User, error) {
	return f(ctx, subject)
}

// claims returns the claims of u for the granted scopes.
func (u User) claims(scopes []string) map[string]any {
	out := map[string]any{}
	for _, s := range scopes {
		switch s {
		case "profile":
			setNonEmpty(out, "name", u.Name)
			setNonEmpty(out, "given_name", u.GivenName)
			setNonEmpty(out, "family_name", u.FamilyName)
			setNonEmpty(out, "preferred_username", u.Username)
			setNonEmpty(out, "username", u.Username)
			setNonEmpty(out, "picture", u.Picture)
		case "email":
			if u.Email != "" {
				out["email"] = u.Email
				out["email_verified"] = u.EmailVerified
			}
		case "groups":
			g := u.Groups
			if g == nil {
				g = []string{}
			}
			out["groups"] = g
		}
	}
	return out
}

func setNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}
