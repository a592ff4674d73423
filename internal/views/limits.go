package views

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Limit estimation. Each rate-limit sample says "at time t the window that
// resets at r was p % used"; the cost of the records in that same window
// up to t, computed from transcripts, then gives the window's limit in
// cost-equivalent dollars as cost / (p/100). Claude Code sends integer
// percentages, so a sample at p % is off by up to 0.5/p: samples below
// MinEstimatePercent are ignored and the others are combined by a median
// weighted by p, which also shrugs off samples skewed by usage ctm cannot
// see (claude.ai, another machine).

// MinEstimatePercent is the smallest used percentage a sample must report
// to count towards an estimate: below it, integer rounding dominates.
const MinEstimatePercent = 5

// MinEstimateSamples is how many usable samples an estimate needs before
// views hold blocks against it.
const MinEstimateSamples = 3

// MinEstimateConfidence is the confidence an estimate needs before views
// hold blocks and windows against it: below it the samples disagree too
// much (or are too few) for a status to mean anything.
const MinEstimateConfidence = 0.25

// FreshRateLimit is how old Claude's own figure may be and still be shown
// as the current one although records were added since; older, the
// estimate is used. A figure with no record after it stays current.
const FreshRateLimit = 15 * time.Minute

// officialFresh reports whether Claude's figure rl still describes the
// usage at now: it is recent, or no request was made after it (the
// status line refreshes after each response, so a figure followed by no
// record is the last word).
func officialFresh(rl *usage.RateLimitSample, last, now time.Time) bool {
	return rl != nil && (now.Sub(rl.Time) <= FreshRateLimit || !last.After(rl.Time.Add(time.Minute)))
}

func lastRecord(records []usage.Record) time.Time {
	if len(records) == 0 {
		return time.Time{}
	}
	return records[len(records)-1].Timestamp
}

// maxEstimateSamples bounds the samples read per estimate: the newest ones
// describe the current limit, and the records of their windows are read.
const maxEstimateSamples = 200

// Durations of Claude's rate-limit windows.
const (
	FiveHourWindow = usage.BlockDuration
	SevenDayWindow = 7 * 24 * time.Hour
)

// LimitPoint is one sample's reading: the used percentage Claude reported
// and the cost ctm computed for the same window at that moment.
type LimitPoint struct {
	Percent float64
	Cost    usage.Money
}

// Estimate is a limit estimated from samples.
type Estimate struct {
	// Limit is the estimated limit in cost-equivalent dollars; 0 when no
	// sample was usable.
	Limit usage.Money `json:"limit_usd"`
	// Samples is the number of usable samples.
	Samples int `json:"samples"`
	// Spread is the median relative deviation of the samples' limits from
	// Limit.
	Spread float64 `json:"spread"`
	// Confidence is in [0, 1): it grows with Samples and falls with
	// Spread.
	Confidence float64 `json:"confidence"`
}

// EstimateLimit combines points into an estimate.
func EstimateLimit(points []LimitPoint) Estimate {
	type est struct{ limit, weight float64 }
	var ests []est
	for _, p := range points {
		if p.Percent < MinEstimatePercent || p.Percent > 1000 || p.Cost <= 0 {
			continue
		}
		ests = append(ests, est{float64(p.Cost) / (p.Percent / 100), p.Percent})
	}
	if len(ests) == 0 {
		return Estimate{}
	}
	sort.Slice(ests, func(i, j int) bool { return ests[i].limit < ests[j].limit })
	var total float64
	for _, e := range ests {
		total += e.weight
	}
	med, acc := ests[len(ests)-1].limit, 0.0
	for _, e := range ests {
		acc += e.weight
		if acc >= total/2 {
			med = e.limit
			break
		}
	}
	devs := make([]float64, len(ests))
	for i, e := range ests {
		devs[i] = math.Abs(e.limit-med) / med
	}
	slices.Sort(devs)
	spread := devs[len(devs)/2]
	n := float64(len(ests))
	// n/(n+5): 3 samples give 0.38, 10 give 0.67, 40 give 0.89; a spread
	// of 10 % halves it.
	conf := n / (n + 5) / (1 + math.Pow(spread/0.1, 2))
	return Estimate{Limit: usage.Money(math.Round(med)), Samples: len(ests), Spread: spread, Confidence: conf}
}

// usable reports whether e is good enough to hold usage against.
func (e Estimate) usable() bool {
	return e.Limit > 0 && e.Samples >= MinEstimateSamples && e.Confidence >= MinEstimateConfidence
}

// WindowLimit is one of Claude's rate-limit windows: the estimate of its
// limit and where the current window stands.
type WindowLimit struct {
	// Window is "five_hour" or "seven_day".
	Window string `json:"window"`
	Estimate
	// Source says where Percent comes from: "claude" (Claude's own
	// figure, received within FreshRateLimit), "estimate" (the cost of
	// the window against the estimated limit) or "none".
	Source string `json:"source"`
	// Percent is the share of the current window used.
	Percent float64 `json:"percent"`
	// Used is the cost of the current window so far, computed from
	// records.
	Used usage.Money `json:"used_usd"`
	// Projected is the share the window reaches at its end at its
	// average rate so far; 0 when not known.
	ProjectedPercent float64 `json:"projected_percent"`
	// Start and ResetsAt bound the current window; Start is zero when it
	// is not known (no sample told its reset time).
	Start    time.Time `json:"start,omitzero"`
	ResetsAt time.Time `json:"resets_at,omitzero"`
	// Official is Claude's latest figure for the window and when it was
	// received; nil when none was.
	Official   *usage.RateLimitWindow `json:"official"`
	ReceivedAt time.Time              `json:"received_at,omitzero"`
}

// Limits is the limits view: both windows.
type Limits struct {
	FiveHour WindowLimit `json:"five_hour"`
	SevenDay WindowLimit `json:"seven_day"`
}

// Limits estimates Claude's 5-hour and weekly limits from the stored
// rate-limit samples and places the current windows against them. Without
// a RateLimitHistory both windows have source "none".
func (v *Views) Limits(ctx context.Context) (Limits, error) {
	five, err := v.WindowLimit(ctx, "five_hour")
	if err != nil {
		return Limits{}, err
	}
	seven, err := v.WindowLimit(ctx, "seven_day")
	return Limits{FiveHour: five, SevenDay: seven}, err
}

// WindowLimit is Limits for one window, "five_hour" or "seven_day".
func (v *Views) WindowLimit(ctx context.Context, window string) (WindowLimit, error) {
	now := v.now()
	out := WindowLimit{Window: window, Source: "none"}
	dur, get := FiveHourWindow, func(s *usage.RateLimitSample) *usage.RateLimitWindow { return s.FiveHour }
	switch window {
	case "five_hour":
	case "seven_day":
		dur, get = SevenDayWindow, func(s *usage.RateLimitSample) *usage.RateLimitWindow { return s.SevenDay }
	default:
		return out, usage.Errorf(usage.EINVALID, "window %q is not five_hour or seven_day", window)
	}
	if v.RateLimitHistory == nil {
		return out, nil
	}
	samples, err := v.RateLimitHistory.RateLimitSamples(ctx, time.Time{}, now.Add(time.Second), maxEstimateSamples)
	if err != nil {
		return out, fmt.Errorf("rate limit samples: %w", err)
	}
	return out, v.windowLimit(ctx, &out, samples, dur, get, now)
}

// applyLimitEstimate holds the active block against the estimated 5-hour
// limit, when there is one of at least MinEstimateSamples samples, and
// returns the estimate (nil when none).
func (v *Views) applyLimitEstimate(ctx context.Context, blocks []usage.Block, now time.Time) (*Estimate, error) {
	if v.RateLimitHistory == nil || v.Partial {
		return nil, nil
	}
	w, err := v.WindowLimit(ctx, "five_hour")
	if err != nil || !w.usable() {
		return nil, err
	}
	usage.ApplyEstimatedLimit(blocks, w.Limit, w.Samples, w.Confidence, now)
	return &w.Estimate, nil
}

// windowLimit fills out for the window of duration dur.
func (v *Views) windowLimit(ctx context.Context, out *WindowLimit, samples []usage.RateLimitSample, dur time.Duration,
	get func(*usage.RateLimitSample) *usage.RateLimitWindow, now time.Time) error {
	type reading struct {
		start, at time.Time
		percent   float64
	}
	var rs []reading
	var latest *usage.RateLimitSample
	for i := range samples {
		s := &samples[i]
		w := get(s)
		if w == nil {
			continue
		}
		latest = s
		// Only a sample that says when its window resets says which
		// records the percentage is of.
		if w.ResetsAt.IsZero() || !s.Time.Before(w.ResetsAt) || s.Time.Before(w.ResetsAt.Add(-dur)) {
			continue
		}
		rs = append(rs, reading{w.ResetsAt.Add(-dur), s.Time, w.UsedPercentage})
	}
	from := now.Add(-dur)
	for _, r := range rs {
		if r.start.Before(from) {
			from = r.start
		}
	}
	var lastReset time.Time // of the latest sample's window
	if latest != nil {
		lastReset = get(latest).ResetsAt
	}
	if !lastReset.IsZero() && lastReset.Add(-dur).Before(from) {
		from = lastReset.Add(-dur)
	}
	// One pass over the records in time order, a page at a time (the
	// samples' windows may reach far back): the cost before each sample
	// window's bounds, and the current window, which after a reset Claude
	// opens with the next request (floored to the hour, as blocks are);
	// none is open when no request came since.
	bounds := make([]time.Time, 0, 2*len(rs))
	for _, r := range rs {
		// The sample is taken after the response it counts was written:
		// include records up to and at its time.
		bounds = append(bounds, r.start, r.at.Add(time.Millisecond))
	}
	slices.SortFunc(bounds, time.Time.Compare)
	before := make([]usage.Money, len(bounds)) // cost of the records before bounds[i]
	var (
		run  usage.Money
		k    int
		last time.Time // of the latest record
	)
	end := lastReset
	err := v.eachRecord(ctx, usage.Filter{Since: from, Until: now.Add(time.Nanosecond)}, func(r *usage.Record) {
		for k < len(bounds) && !bounds[k].After(r.Timestamp) {
			before[k] = run
			k++
		}
		run = run.Add(r.Cost)
		last = r.Timestamp
		if !end.IsZero() && !end.After(now) && !r.Timestamp.Before(end) {
			end = r.Timestamp.Truncate(time.Hour).Add(dur)
		}
	})
	if err != nil {
		return err
	}
	for ; k < len(bounds); k++ {
		before[k] = run
	}
	costIn := func(a, b time.Time) usage.Money {
		i, _ := slices.BinarySearchFunc(bounds, a, time.Time.Compare)
		j, _ := slices.BinarySearchFunc(bounds, b, time.Time.Compare)
		return before[j] - before[i]
	}

	var start time.Time
	open := true
	switch {
	case lastReset.IsZero():
		start, open = now.Add(-dur), false // unknown: the trailing window
	case !end.After(now):
		start, open = now, false // nothing used since the reset
	default:
		start = end.Add(-dur)
		out.Start, out.ResetsAt = start.In(v.loc()), end.In(v.loc())
	}
	points := make([]LimitPoint, len(rs))
	for i, r := range rs {
		points[i] = LimitPoint{Percent: r.percent, Cost: costIn(r.start, r.at.Add(time.Millisecond))}
	}
	out.Estimate = EstimateLimit(points)
	if start.Before(now) {
		// The current window is at most dur long: a second, short pass.
		err := v.eachRecord(ctx, usage.Filter{Since: start, Until: now.Add(time.Nanosecond)}, func(r *usage.Record) {
			out.Used = out.Used.Add(r.Cost)
		})
		if err != nil {
			return err
		}
	}
	if latest != nil {
		w := *get(latest)
		out.Official, out.ReceivedAt = &w, latest.Time.In(v.loc())
		if !w.ResetsAt.IsZero() {
			out.Official.ResetsAt = w.ResetsAt.In(v.loc())
		}
	}
	elapsed := now.Sub(start)
	switch {
	case latest != nil && officialFresh(latest, last, now) &&
		(get(latest).ResetsAt.IsZero() || get(latest).ResetsAt.After(now)):
		out.Source = "claude"
		out.Percent = get(latest).UsedPercentage
		if open && elapsed > 0 {
			out.ProjectedPercent = out.Percent * float64(dur) / float64(elapsed)
		}
	case out.usable():
		out.Source = "estimate"
		out.Percent = float64(out.Used) / float64(out.Limit) * 100
		if open && elapsed > 0 {
			out.ProjectedPercent = out.Percent * float64(dur) / float64(elapsed)
		}
	}
	return nil
}
