package views_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// TestEstimateLimitFromRoundedPercents: points generated from a known
// limit with Claude's integer rounding land within 2 % of it once there
// are 20 of them, and confidence grows with the number of points.
func TestEstimateLimitFromRoundedPercents(t *testing.T) {
	const truth = 35 * usage.MoneyPerUSD
	rng := rand.New(rand.NewPCG(1, 2))
	var points []views.LimitPoint
	for range 200 {
		cost := usage.Money(rng.Float64() * float64(truth))
		points = append(points, views.LimitPoint{Percent: math.Round(float64(cost) / float64(truth) * 100), Cost: cost})
	}
	prev := 0.0
	for _, n := range []int{3, 10, 20, 40, 100, 200} {
		e := views.EstimateLimit(points[:n])
		rel := math.Abs(float64(e.Limit)-float64(truth)) / float64(truth)
		t.Logf("n=%3d usable=%3d limit=$%s error=%.2f%% spread=%.3f confidence=%.2f", n, e.Samples, e.Limit.Fixed(2), rel*100, e.Spread, e.Confidence)
		if n >= 20 && rel > 0.02 {
			t.Errorf("n=%d: estimate $%s is %.1f%% off $35", n, e.Limit.Fixed(2), rel*100)
		}
		if e.Confidence <= prev || e.Confidence >= 1 {
			t.Errorf("n=%d: confidence %.3f does not grow from %.3f (or reaches 1)", n, e.Confidence, prev)
		}
		prev = e.Confidence
	}
	// Were Claude to floor rather than round, the estimate would read high
	// by about half a point over the median percentage: still within 2 %.
	floored := make([]views.LimitPoint, len(points))
	for i, p := range points {
		floored[i] = views.LimitPoint{Percent: math.Floor(float64(p.Cost) / float64(truth) * 100), Cost: p.Cost}
	}
	if e := views.EstimateLimit(floored); math.Abs(float64(e.Limit)-float64(truth))/float64(truth) > 0.02 {
		t.Errorf("floored percentages: $%s, want within 2%% of $35", e.Limit.Fixed(2))
	} else {
		t.Logf("floored percentages: $%s", e.Limit.Fixed(2))
	}
	if e := views.EstimateLimit([]views.LimitPoint{{Percent: 2, Cost: 1e9}, {Percent: 0, Cost: 5e9}}); e.Samples != 0 || e.Limit != 0 {
		t.Errorf("points below %d%% = %+v, want no estimate", views.MinEstimatePercent, e)
	}
	// A few samples inflated by usage ctm cannot see do not move the
	// weighted median.
	skewed := append([]views.LimitPoint{}, points[:40]...)
	for i := range 5 {
		skewed[i].Percent = math.Min(100, skewed[i].Percent*3+10)
	}
	if e := views.EstimateLimit(skewed); math.Abs(float64(e.Limit)-float64(truth))/float64(truth) > 0.03 {
		t.Errorf("with 5 of 40 skewed samples: $%s, want within 3%% of $35", e.Limit.Fixed(2))
	}
}

// simUser replays a user with known limits: bursts of requests, a
// status-line sample after every few requests carrying Claude's integer
// percentages of the 5-hour window (which opens with the first request
// after the last one reset) and of the 7-day window.
type simUser struct {
	five, week usage.Money
}

func (u simUser) run(t *testing.T, st *sqlite.Store, start time.Time, days int) (samples int, end time.Time) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 9))
	var recs []usage.Record
	var fiveStart, weekStart time.Time
	var fiveCost, weekCost usage.Money
	ts := start
	for day := range days {
		// Two sessions a day, at 9:00 and 15:00, of 40-70 requests.
		for _, hour := range []int{9, 15} {
			ts = start.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour)
			n := 40 + rng.IntN(30)
			for i := range n {
				ts = ts.Add(time.Duration(1+rng.IntN(5)) * time.Minute)
				r := usage.Record{Key: ts.Format(time.RFC3339Nano), MessageID: ts.String(), RequestID: ts.String(),
					Timestamp: ts, Model: "claude-sonnet-4-5", SessionID: "s", Project: "/p",
					Tokens: usage.Tokens{Input: 2000, Output: int64(500 + rng.IntN(4000)), CacheRead: int64(rng.IntN(50000))}}
				r.Cost, _ = storetest.Prices.Price(&r)
				recs = append(recs, r)
				if fiveStart.IsZero() || !ts.Before(fiveStart.Add(5*time.Hour)) {
					fiveStart, fiveCost = ts.Truncate(time.Hour), 0
				}
				if weekStart.IsZero() || !ts.Before(weekStart.Add(7*24*time.Hour)) {
					weekStart, weekCost = ts.Truncate(time.Hour), 0
				}
				fiveCost, weekCost = fiveCost.Add(r.Cost), weekCost.Add(r.Cost)
				if i%3 == 2 {
					pct := func(c, l usage.Money) float64 { return math.Min(100, math.Round(float64(c)/float64(l)*100)) }
					err := st.SaveRateLimits(ctx, usage.RateLimitSample{Time: ts.Add(2 * time.Second),
						FiveHour: &usage.RateLimitWindow{UsedPercentage: pct(fiveCost, u.five), ResetsAt: fiveStart.Add(5 * time.Hour)},
						SevenDay: &usage.RateLimitWindow{UsedPercentage: pct(weekCost, u.week), ResetsAt: weekStart.Add(7 * 24 * time.Hour)}})
					if err != nil {
						t.Fatal(err)
					}
					samples++
				}
			}
		}
	}
	if err := st.Apply(ctx, usage.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	return samples, ts
}

// TestLimitsFromRecordedSamples runs the views over a store holding a
// simulated user's records and samples, whose true limits are known.
func TestLimitsFromRecordedSamples(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lim.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := simUser{five: 12 * usage.MoneyPerUSD, week: 150 * usage.MoneyPerUSD}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	n, last := u.run(t, st, start, 9)
	at := func(now time.Time) *views.Views {
		return &views.Views{Store: st, Prices: storetest.Prices, Now: func() time.Time { return now }, RateLimits: st, RateLimitHistory: st}
	}

	// An hour after the last sample, with a request made since: Claude's
	// figure is stale, the estimate speaks.
	later := usage.Record{Key: "later", MessageID: "later", RequestID: "later", Timestamp: last.Add(30 * time.Minute),
		Model: "claude-sonnet-4-5", SessionID: "s", Project: "/p", Tokens: usage.Tokens{Input: 100, Output: 100}}
	if err := st.Apply(ctx, usage.Batch{Records: []usage.Record{later}}); err != nil {
		t.Fatal(err)
	}
	l, err := at(last.Add(time.Hour)).Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		w     views.WindowLimit
		truth usage.Money
		tol   float64
	}{{l.FiveHour, u.five, 0.03}, {l.SevenDay, u.week, 0.05}} {
		rel := math.Abs(float64(c.w.Limit)-float64(c.truth)) / float64(c.truth)
		t.Logf("%s: estimate $%s (true $%s, %.2f%% off) from %d of %d samples, confidence %.2f, source %s, %.1f%% used",
			c.w.Window, c.w.Limit.Fixed(2), c.truth.Fixed(2), rel*100, c.w.Samples, n, c.w.Confidence, c.w.Source, c.w.Percent)
		if rel > c.tol || c.w.Source != "estimate" || c.w.Samples < 20 || c.w.Confidence < 0.5 {
			t.Errorf("%s = %+v; want within %.0f%% of $%s from the estimate", c.w.Window, c.w, c.tol*100, c.truth.Fixed(2))
		}
	}
	// The active block is held against the estimate.
	act, err := at(last.Add(time.Hour)).ActiveBlock(ctx, usage.Limits{})
	if err != nil || act == nil {
		t.Fatalf("ActiveBlock = %v, %v", act, err)
	}
	if ls := act.LimitStatus; ls == nil || ls.Source != usage.LimitSourceSamples || ls.Samples != l.FiveHour.Samples ||
		math.Abs(ls.CostLimit-l.FiveHour.Limit.USD()) > 1e-9 || ls.ProjectedStatus == "" {
		t.Errorf("active block limit status = %+v; want the estimate of %d samples", ls, l.FiveHour.Samples)
	}
	// Right after a sample, Claude's own figure is shown.
	fresh, err := at(last.Add(5 * time.Minute)).Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.FiveHour.Source != "claude" || fresh.FiveHour.Official == nil || fresh.FiveHour.Percent != fresh.FiveHour.Official.UsedPercentage {
		t.Errorf("fresh five_hour = %+v; want Claude's percentage", fresh.FiveHour)
	}
	// Confidence grows with history.
	prev := 0.0
	for _, days := range []int{1, 3, 9} {
		v := at(start.AddDate(0, 0, days))
		w, err := v.WindowLimit(ctx, "five_hour")
		if err != nil {
			t.Fatal(err)
		}
		if w.Confidence <= prev {
			t.Errorf("after %d days: confidence %.2f (%d samples), not above %.2f", days, w.Confidence, w.Samples, prev)
		}
		prev = w.Confidence
	}
	if _, err := at(last).WindowLimit(ctx, "monthly"); usage.ErrorCode(err) != usage.EINVALID {
		t.Errorf("unknown window: err = %v", err)
	}
}

// TestCurrentWindowAfterReset: once the window of the latest sample has
// reset, the next one opens with the next request, floored to the hour;
// with no request since, none is open and nothing is used.
func TestCurrentWindowAfterReset(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "w.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	var recs []usage.Record
	for i, hm := range []time.Duration{10*time.Hour + 10*time.Minute, 10*time.Hour + 40*time.Minute, 16*time.Hour + 20*time.Minute} {
		r := usage.Record{Key: fmt.Sprint(i), MessageID: fmt.Sprint(i), RequestID: fmt.Sprint(i), Timestamp: day.Add(hm),
			Model: "claude-opus-4-6", SessionID: "s", Project: "/p", Tokens: usage.Tokens{Output: 100_000}}
		r.Cost, _ = storetest.Prices.Price(&r)
		recs = append(recs, r)
	}
	if err := st.Apply(ctx, usage.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveRateLimits(ctx, usage.RateLimitSample{Time: day.Add(10*time.Hour + 41*time.Minute),
		FiveHour: &usage.RateLimitWindow{UsedPercentage: 50, ResetsAt: day.Add(15 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	at := func(now time.Time) views.WindowLimit {
		v := &views.Views{Store: st, Prices: storetest.Prices, Now: func() time.Time { return now }, RateLimitHistory: st}
		w, err := v.WindowLimit(ctx, "five_hour")
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := at(day.Add(15*time.Hour + 30*time.Minute)); !w.Start.IsZero() || !w.ResetsAt.IsZero() || w.Used != 0 || w.Source != "none" {
		t.Errorf("after the reset, before any request: %+v; want no open window", w)
	}
	w := at(day.Add(16*time.Hour + 30*time.Minute))
	if !w.Start.Equal(day.Add(16*time.Hour)) || !w.ResetsAt.Equal(day.Add(21*time.Hour)) || w.Used != recs[2].Cost {
		t.Errorf("after the next request: window %v-%v used %s; want 16:00-21:00 and %s", w.Start, w.ResetsAt, w.Used, recs[2].Cost)
	}
	if w := at(day.Add(12 * time.Hour)); !w.ResetsAt.Equal(day.Add(15*time.Hour)) || w.Used != recs[0].Cost+recs[1].Cost ||
		w.Source != "claude" || w.Percent != 50 || w.Samples != 1 {
		t.Errorf("inside the sampled window: %+v; want Claude's 50%% of the 10:00-15:00 window", w)
	}
}

// pagedStore is a real store that remembers whether any Records call asked
// for every record of its filter at once (a zero page limit).
type pagedStore struct {
	*sqlite.Store
	mu        sync.Mutex
	unbounded []usage.Filter
}

func (s *pagedStore) Records(ctx context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	if p.Limit == 0 {
		s.mu.Lock()
		s.unbounded = append(s.unbounded, f)
		s.mu.Unlock()
	}
	return s.Store.Records(ctx, f, p)
}

// TestLimitsReadRecordsByPages: the windows of the stored samples may
// reach far back (200 samples of a status line last used months ago), so
// the limits view must read their records a page at a time, never all at
// once; its figures are checked by the tests above.
func TestLimitsReadRecordsByPages(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lim.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := simUser{five: 12 * usage.MoneyPerUSD, week: 150 * usage.MoneyPerUSD}
	_, last := u.run(t, st, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), 9)
	ps := &pagedStore{Store: st}
	for _, now := range []time.Time{last.Add(time.Hour), last.Add(5 * time.Minute), last.AddDate(0, 2, 0)} {
		v := &views.Views{Store: ps, Prices: storetest.Prices, Now: func() time.Time { return now }, RateLimits: st, RateLimitHistory: st}
		want, err := (&views.Views{Store: st, Prices: storetest.Prices, Now: func() time.Time { return now }, RateLimits: st, RateLimitHistory: st}).Limits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Limits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("at %v: through the wrapper %+v, direct %+v", now, got, want)
		}
	}
	if len(ps.unbounded) > 0 {
		t.Errorf("Limits read all records of %d filters at once, e.g. %+v", len(ps.unbounded), ps.unbounded[0])
	}
}
