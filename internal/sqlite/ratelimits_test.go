package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

func countRateLimits(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.reader.QueryRow(`SELECT count(*) FROM rate_limits`).Scan(&n); err != nil {
		t.Fatalf("count rate_limits: %v", err)
	}
	return n
}

func TestRateLimits(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, tempPath(t))
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

	if _, err := s.LatestRateLimits(ctx); usage.ErrorCode(err) != usage.ENOTFOUND {
		t.Fatalf("LatestRateLimits on empty store: error %v, want code %s", err, usage.ENOTFOUND)
	}
	if err := s.SaveRateLimits(ctx, usage.RateLimitSample{Time: t0}); usage.ErrorCode(err) != usage.EINVALID {
		t.Fatalf("SaveRateLimits(no windows) = %v, want code %s", err, usage.EINVALID)
	}

	first := usage.RateLimitSample{
		Time:      t0,
		SessionID: "s1",
		FiveHour:  &usage.RateLimitWindow{UsedPercentage: 23.5, ResetsAt: t0.Add(3 * time.Hour)},
	}
	if err := s.SaveRateLimits(ctx, first); err != nil {
		t.Fatalf("SaveRateLimits = %v", err)
	}
	got, err := s.LatestRateLimits(ctx)
	if err != nil {
		t.Fatalf("LatestRateLimits = %v", err)
	}
	if !got.Time.Equal(t0) || got.SessionID != "s1" || got.SevenDay != nil || got.FiveHour == nil ||
		got.FiveHour.UsedPercentage != 23.5 || !got.FiveHour.ResetsAt.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("LatestRateLimits = %+v (five_hour %+v), want %+v (five_hour %+v)", got, got.FiveHour, first, first.FiveHour)
	}

	// The same windows again, later and from another session: not stored.
	again := first
	again.Time, again.SessionID = t0.Add(time.Minute), "s2"
	if err := s.SaveRateLimits(ctx, again); err != nil {
		t.Fatalf("SaveRateLimits(same) = %v", err)
	}
	if n := countRateLimits(t, s); n != 1 {
		t.Errorf("rows after an unchanged sample = %d, want 1", n)
	}

	// A change, and a seven-day window without a reset time.
	next := usage.RateLimitSample{
		Time:     t0.Add(2 * time.Minute),
		FiveHour: &usage.RateLimitWindow{UsedPercentage: 24},
		SevenDay: &usage.RateLimitWindow{UsedPercentage: 41.2},
	}
	if err := s.SaveRateLimits(ctx, next); err != nil {
		t.Fatalf("SaveRateLimits(changed) = %v", err)
	}
	if n := countRateLimits(t, s); n != 2 {
		t.Errorf("rows after a changed sample = %d, want 2", n)
	}
	got, err = s.LatestRateLimits(ctx)
	if err != nil {
		t.Fatalf("LatestRateLimits = %v", err)
	}
	if got.FiveHour == nil || got.FiveHour.UsedPercentage != 24 || !got.FiveHour.ResetsAt.IsZero() ||
		got.SevenDay == nil || got.SevenDay.UsedPercentage != 41.2 || !got.Time.Equal(next.Time) {
		t.Errorf("LatestRateLimits = %+v, want %+v", got, next)
	}

	// A zero time is stamped with Now.
	s.Now = func() time.Time { return t0.Add(time.Hour) }
	if err := s.SaveRateLimits(ctx, usage.RateLimitSample{SevenDay: &usage.RateLimitWindow{UsedPercentage: 50}}); err != nil {
		t.Fatalf("SaveRateLimits(zero time) = %v", err)
	}
	if got, err = s.LatestRateLimits(ctx); err != nil || !got.Time.Equal(t0.Add(time.Hour)) || got.FiveHour != nil {
		t.Errorf("LatestRateLimits = %+v, %v; want time %v and no five_hour", got, err, t0.Add(time.Hour))
	}
}

func TestRateLimitsClosedStore(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, tempPath(t))
	s.Close()
	w := &usage.RateLimitWindow{UsedPercentage: 1}
	if err := s.SaveRateLimits(ctx, usage.RateLimitSample{FiveHour: w}); err == nil {
		t.Error("SaveRateLimits on a closed store = nil, want an error")
	}
	if _, err := s.LatestRateLimits(ctx); err == nil || usage.ErrorCode(err) == usage.ENOTFOUND {
		t.Errorf("LatestRateLimits on a closed store = %v, want an internal error", err)
	}
}
