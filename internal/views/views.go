// Package views answers each question about usage once: the summary, the
// calendar reports, the 5-hour blocks, the export rows. Every consumer (the
// HTTP API, the WebSocket hub, the CLI, the MCP server) decodes its input,
// calls a view and encodes the result, so that no two of them can compute
// the same figure differently.
package views

import (
	"context"
	"fmt"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Store is what the views read of a usage.Store.
type Store interface {
	Aggregate(ctx context.Context, f usage.Filter, dim usage.Dimension) ([]usage.Bucket, error)
	Records(ctx context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error)
	Prompts(ctx context.Context, f usage.Filter) ([]usage.Prompt, error)
}

// Views computes views over one store, priced by one table, with days
// and hours in one time zone.
type Views struct {
	Store  Store
	Prices usage.Pricer
	// Location is the time zone of days, weeks and months and of every
	// time a view returns; nil means UTC.
	Location *time.Location
	// DisplayName returns a human name for a model id; nil uses the id.
	DisplayName func(model string) string
	// Now returns the current time, for the views that depend on it;
	// nil means time.Now.
	Now func() time.Time
	// RateLimits, when set, holds Claude's own rate-limit numbers as the
	// status line received them.
	RateLimits usage.RateLimitStore
	// RateLimitHistory, when set, lists the stored samples, from which
	// Limits estimates Claude's limits.
	RateLimitHistory usage.RateLimitHistory
	// Partial marks views of part of the records (one user of a team).
	// Claude's own numbers are this machine's and describe all of its
	// usage, so they are shown but do not decide a partial view's limit
	// status.
	Partial bool
}

func (v *Views) loc() *time.Location {
	if v.Location == nil {
		return time.UTC
	}
	return v.Location
}

func (v *Views) displayName(model string) string {
	if v.DisplayName == nil {
		return model
	}
	return v.DisplayName(model)
}

func (v *Views) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

// Today returns midnight of the current day in the views' time zone.
func (v *Views) Today() time.Time {
	return usage.Day.Start(v.now().In(v.loc()))
}

// PeriodAggregator is implemented by stores that can sum the quarter
// hours of one calendar period before returning them (sqlite.Store
// does): Aggregate(f, dim) for dim ByQuarterHour or BySessionQuarterHour,
// except that quarter hours in a row with one label(b.Time) may come as
// one bucket per model (and session), whose Time has their label. label
// gives every quarter hour of a period the same label; only equal labels
// are merged. The store calls label from one goroutine at a time.
type PeriodAggregator interface {
	AggregatePeriods(ctx context.Context, f usage.Filter, dim usage.Dimension, label func(time.Time) string) ([]usage.Bucket, error)
}

// rollup aggregates the records that pass f by dim and rolls them up by
// key. It is the one path every summed figure takes.
func (v *Views) rollup(ctx context.Context, f usage.Filter, dim usage.Dimension, key func(*usage.Bucket) string) (usage.Report, error) {
	var (
		buckets []usage.Bucket
		err     error
	)
	if pa, ok := v.Store.(PeriodAggregator); ok && dim == usage.ByQuarterHour {
		// The keys of a rollup by quarter hour (a calendar period, an
		// hour of the week) read only the bucket's time, so the store
		// may sum the quarter hours of one key before returning them:
		// grouping 20k quarter hours into days was a fifth of a daily
		// report on 2 GB of long sessions. The store labels each
		// quarter hour by its start, as Rollup labels a quarter hour's
		// bucket, so the sums are the same. One bucket serves every
		// label: key, like the store's calls of label, runs on one
		// goroutine, and a new bucket per quarter hour (the callee is
		// not known, so it escapes) was 4k allocations, 0.8 MB, of a
		// daily report of 100 MB of long sessions.
		var b usage.Bucket
		buckets, err = pa.AggregatePeriods(ctx, f, dim, func(t time.Time) string {
			b.Time = t
			return key(&b)
		})
	} else {
		buckets, err = v.Store.Aggregate(ctx, f, dim)
	}
	if err != nil {
		// Both stores' errors already say "aggregate: ".
		return usage.Report{}, err
	}
	return usage.Rollup(buckets, v.Prices, key), nil
}

// byKey groups buckets by their Key (session, project).
func byKey(b *usage.Bucket) string { return b.Key }

// byNothing puts every bucket in one group.
func byNothing(*usage.Bucket) string { return "" }

// groupMap indexes a report's groups by key.
func groupMap(r usage.Report) map[string]*usage.Group {
	m := make(map[string]*usage.Group, len(r.Groups))
	for i := range r.Groups {
		m[r.Groups[i].Key] = &r.Groups[i]
	}
	return m
}

// nonNil returns s, or an empty list for nil, so that JSON always carries
// the list.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SessionCounts returns the number of distinct sessions with records in
// each period (labelled by p in the views' zone) among the records that
// pass f, and the number of distinct sessions overall. It reads one bucket
// per (quarter hour, session, model), or per (period, session, model) from
// a PeriodAggregator, never the records: every zone's offset is a multiple
// of 15 minutes, so each quarter hour lies in exactly one period.
func (v *Views) SessionCounts(ctx context.Context, f usage.Filter, p usage.Period) (map[string]int, int, error) {
	var (
		buckets []usage.Bucket
		err     error
	)
	if pa, ok := v.Store.(PeriodAggregator); ok {
		// A store that merges the quarter hours of a period returns a
		// bucket per session and period instead of one per quarter hour
		// of each session: 3k instead of 80k for a month of 2 GB of
		// long sessions.
		loc := v.loc()
		buckets, err = pa.AggregatePeriods(ctx, f, usage.BySessionQuarterHour, func(t time.Time) string { return p.Label(t, loc) })
	} else {
		buckets, err = v.Store.Aggregate(ctx, f, usage.BySessionQuarterHour)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("aggregate sessions: %w", err)
	}
	// Many buckets share a quarter hour; label each quarter hour once.
	labels := map[int64]string{}
	seen := map[[2]string]bool{}
	sessions := map[string]bool{}
	counts := map[string]int{}
	for i := range buckets {
		b := &buckets[i]
		q := b.Time.Unix()
		label, ok := labels[q]
		if !ok {
			label = p.Label(b.Time, v.loc())
			labels[q] = label
		}
		k := [2]string{label, b.Key}
		if !seen[k] {
			seen[k] = true
			counts[label]++
		}
		sessions[b.Key] = true
	}
	return counts, len(sessions), nil
}

// SessionCount returns the number of distinct sessions among the records
// that pass f.
func (v *Views) SessionCount(ctx context.Context, f usage.Filter) (int, error) {
	buckets, err := v.Store.Aggregate(ctx, f, usage.BySession)
	if err != nil {
		return 0, fmt.Errorf("aggregate sessions: %w", err)
	}
	seen := map[string]bool{}
	for _, b := range buckets {
		seen[b.Key] = true
	}
	return len(seen), nil
}

// timeOrNil returns t in the views' zone, or nil when t is zero, so that
// JSON leaves unknown times out instead of printing year 1.
func (v *Views) timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.In(v.loc())
	return &t
}

// Totals returns the sum of the records that pass f and the models among
// them that have no price.
func (v *Views) Totals(ctx context.Context, f usage.Filter) (usage.Aggregate, []string, error) {
	rep, err := v.rollup(ctx, f, usage.ByNothing, byNothing)
	if err != nil {
		return usage.Aggregate{}, nil, err
	}
	return rep.Totals.Aggregate, rep.Unpriced, nil
}
