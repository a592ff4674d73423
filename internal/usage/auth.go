package usage

import "strings"

// BearerToken returns the token of an Authorization header value in the
// Bearer scheme. Schemes are case-insensitive (RFC 9110, section 11.1), so
// "bearer x" and "BEARER x" are accepted like "Bearer x". ok is false for
// another scheme or an empty token. The API and the team routes both use
// it, so that they accept exactly the same headers.
func BearerToken(header string) (token string, ok bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
