package usage

import (
	"context"
	"time"
)

// RateLimitWindow is Claude's own measure of one rate-limit window, as
// Claude Code reports it to status lines.
type RateLimitWindow struct {
	// UsedPercentage is the share of the window's allowance used, 0-100.
	UsedPercentage float64 `json:"used_percentage"`
	// ResetsAt is when the window resets; zero when not reported.
	ResetsAt time.Time `json:"resets_at,omitzero"`
}

// RateLimitSample is the rate-limit state Claude Code passed to a status
// line at one moment. Unlike blocks, which ctm computes from transcripts,
// these are Anthropic's numbers; views show them side by side.
type RateLimitSample struct {
	// Time is when the sample was received.
	Time      time.Time `json:"timestamp"`
	SessionID string    `json:"session_id,omitempty"`
	// FiveHour and SevenDay are nil when Claude Code did not send them.
	FiveHour *RateLimitWindow `json:"five_hour,omitempty"`
	SevenDay *RateLimitWindow `json:"seven_day,omitempty"`
}

// IsZero reports whether s carries no window.
func (s RateLimitSample) IsZero() bool { return s.FiveHour == nil && s.SevenDay == nil }

// RateLimitStore keeps rate-limit samples. It is optional: callers
// type-assert a Store for it, so stores without it keep working.
type RateLimitStore interface {
	// SaveRateLimits stores s. Returns EINVALID when s has no window.
	SaveRateLimits(ctx context.Context, s RateLimitSample) error

	// LatestRateLimits returns the most recent sample. Returns ENOTFOUND
	// when none was saved.
	LatestRateLimits(ctx context.Context) (RateLimitSample, error)
}
