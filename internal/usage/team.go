package usage

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// TelemetryKeyPrefix starts the Key of every record built from Claude
// Code's OpenTelemetry events. Telemetry carries a request id but no
// message id, so its records cannot share the transcript key.
//
// A team server that receives both keeps the transcript copies and drops a
// telemetry record whose request id a transcript record also has
// (Supersedes). Transcript records are never merged by request id: one
// request id can carry more than one message id (the real corpus has one),
// and DESIGN's rule counts each (message.id, requestId) pair.
const TelemetryKeyPrefix = "otel:"

// FromTelemetry reports whether r was built from an OpenTelemetry event
// rather than from a transcript line.
func (r *Record) FromTelemetry() bool { return strings.HasPrefix(r.Key, TelemetryKeyPrefix) }

// Supersedes reports whether r, a transcript record, replaces the
// telemetry record t: they report the same API request, and the transcript
// also knows the message id, project, cwd, branch and the 5-minute/1-hour
// split of cache writes.
func (r *Record) Supersedes(t *Record) bool {
	return !r.FromTelemetry() && t.FromTelemetry() && r.RequestID != "" && r.RequestID == t.RequestID
}

// UserTotals is one team user: the records stored for them, summed, and
// how many push tokens they hold. Costs are not included: they come from
// Aggregate(ByUser) and a Pricer, like every other view.
type UserTotals struct {
	User string `json:"user"`
	Tokens
	Entries int64 `json:"entries"`
	// Machines lists the distinct machines that sent the user's records,
	// sorted.
	Machines []string `json:"machines"`
	// First and Last are the earliest and latest record timestamps; zero
	// when the user has no records yet.
	First time.Time `json:"first_activity,omitzero"`
	Last  time.Time `json:"last_activity,omitzero"`
	// TokenCount is how many push tokens the user holds.
	TokenCount int `json:"token_count"`
}

// TeamStore is what a team server needs beyond Store: push tokens for its
// users. It is optional: callers type-assert a Store for it. Tokens are
// stored hashed; the plaintext exists only in CreateToken's result.
type TeamStore interface {
	// CreateToken creates a new push token for user and returns it in
	// plaintext; it cannot be read back later. Returns EINVALID for an
	// empty or malformed user name.
	CreateToken(ctx context.Context, user string) (string, error)

	// UserForToken returns the user that token belongs to. Returns
	// EUNAUTHORIZED when no stored token matches.
	UserForToken(ctx context.Context, token string) (string, error)

	// Users lists every user that holds a token or has records, sorted by
	// name, with their totals.
	Users(ctx context.Context) ([]UserTotals, error)
}

// MaxNameLength bounds user and machine names, in bytes.
const MaxNameLength = 200

// ValidName checks a user or machine name: non-empty, at most
// MaxNameLength bytes of valid UTF-8, no control characters and no
// leading or trailing space. Returns EINVALID naming what (e.g. "user").
func ValidName(what, name string) error {
	switch {
	case name == "":
		return Errorf(EINVALID, "%s is empty", what)
	case len(name) > MaxNameLength:
		return Errorf(EINVALID, "%s is longer than %d bytes", what, MaxNameLength)
	case !utf8.ValidString(name):
		return Errorf(EINVALID, "%s is not valid UTF-8", what)
	case strings.TrimSpace(name) != name:
		return Errorf(EINVALID, "%s %q has leading or trailing space", what, name)
	case strings.ContainsFunc(name, unicode.IsControl):
		return Errorf(EINVALID, "%s %q contains a control character", what, name)
	}
	return nil
}
