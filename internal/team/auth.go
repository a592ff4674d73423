// Package team is the network side of team mode: the push client that
// ships a machine's records to a team server, the server's ingest route
// for them, and the OTLP/HTTP logs receiver that turns Claude Code's
// telemetry into records. The handlers are plain http.Handlers that
// package server lists in its route table next to the REST API.
package team

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Principal is who a request authenticated as: a team user (their push
// token) or the admin (AUTH_TOKEN).
type Principal struct {
	// User is the token's user; empty for the admin.
	User  string
	Admin bool
}

// Authenticator authenticates a request. It returns EUNAUTHORIZED when
// the request carries no valid credentials.
type Authenticator func(r *http.Request) (Principal, error)

// TokenResolver maps a push token to its user; usage.TeamStore implements
// it.
type TokenResolver interface {
	// UserForToken returns the token's user, or EUNAUTHORIZED.
	UserForToken(ctx context.Context, token string) (string, error)
}

// TokenAuth returns an Authenticator that accepts `Authorization: Bearer
// <token>` where the token is adminToken (when not empty) or a push token
// that users resolves. users may be nil when only the admin token is
// accepted.
func TokenAuth(users TokenResolver, adminToken string) Authenticator {
	// Comparing fixed-size hashes keeps the comparison constant-time in
	// the token's length as well as its content.
	adminHash := sha256.Sum256([]byte(adminToken))
	return func(r *http.Request) (Principal, error) {
		token, ok := bearer(r)
		if !ok {
			return Principal{}, usage.Errorf(usage.EUNAUTHORIZED, "missing bearer token in the Authorization header")
		}
		h := sha256.Sum256([]byte(token))
		if adminToken != "" && subtle.ConstantTimeCompare(h[:], adminHash[:]) == 1 {
			return Principal{Admin: true}, nil
		}
		if users == nil {
			return Principal{}, usage.Errorf(usage.EUNAUTHORIZED, "invalid token")
		}
		user, err := users.UserForToken(r.Context(), token)
		if err != nil {
			return Principal{}, err
		}
		return Principal{User: user}, nil
	}
}

// bearer returns the token of an `Authorization: Bearer` header.
func bearer(r *http.Request) (string, bool) {
	return usage.BearerToken(r.Header.Get("Authorization"))
}
