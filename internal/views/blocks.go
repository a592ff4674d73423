package views

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// RecentWindow is how far back BlocksQuery.Recent looks, as in ccusage.
const RecentWindow = 3 * 24 * time.Hour

// activeLookbacks are the windows of history read, in turn, to find the
// active block. A window is enough once it holds a silence of over 5 hours,
// because the record after it opens a block over whole history too (see
// usage.TrimToBlockStart); a day holds one for anyone who sleeps, so the
// whole history (0) is read only for the rare user who never stops.
var activeLookbacks = []time.Duration{24 * time.Hour, usage.RollingWeek, 0}

// BlocksQuery selects the blocks of a Blocks view.
type BlocksQuery struct {
	// Limits are the per-block limits. With Lookback 0 a "max" token
	// limit is resolved against the blocks of all history; otherwise it
	// must be resolved already (see ResolveLimits).
	Limits usage.Limits
	// Since and Until keep the blocks that start in [Since, Until); zero
	// bounds are open.
	Since, Until time.Time
	// Recent keeps the blocks that started in the last RecentWindow;
	// Active keeps the active block only.
	Recent, Active bool
	// Lookback, when positive, reads only the records of the last
	// Lookback (and at least of the rolling week, for Weekly), trimmed to
	// a block start, instead of all history: enough for the active block.
	Lookback time.Duration
}

// Blocks is the 5-hour blocks view: the blocks with their limit status,
// the resolved limits, the rolling week and Claude's own numbers, every
// time in the views' zone.
type Blocks struct {
	// Now is the time the view was computed at.
	Now    time.Time     `json:"-"`
	Blocks []usage.Block `json:"blocks"`
	// Limits are the per-block limits, resolved: with a "max" token limit
	// the token limit is the largest completed block.
	Limits usage.Limits `json:"limits"`
	// Weekly sums the rolling 7 days ending now.
	Weekly usage.WindowTotals `json:"weekly"`
	// RateLimits are Claude's own numbers, as Claude Code last passed them
	// to ctm statusline; null when none were received.
	RateLimits *usage.RateLimitSample `json:"rate_limits"`
	// LimitEstimate is the 5-hour limit estimated from stored samples
	// when it, not Claude's own figure, decides the active block's
	// status; null otherwise.
	LimitEstimate *Estimate `json:"limit_estimate"`
	// UnpricedModels are the models of the blocks shown and of the week
	// that have no price; their cost counts as 0.
	UnpricedModels []string `json:"unpriced_models"`
}

// Blocks returns the blocks q selects at the current time.
func (v *Views) Blocks(ctx context.Context, q BlocksQuery) (Blocks, error) {
	now := v.now()
	res := Blocks{Now: now}
	var f usage.Filter
	if q.Lookback > 0 {
		f.Since = now.Add(-max(q.Lookback, usage.RollingWeek))
	}
	records, err := v.Store.Records(ctx, f, usage.Page{})
	if err != nil {
		return res, fmt.Errorf("records: %w", err)
	}
	res.Weekly = usage.WeeklyTotals(records, v.Prices, now)
	if q.Lookback > 0 {
		// Records come in time order, so the lookback is a suffix.
		i, _ := slices.BinarySearchFunc(records, now.Add(-q.Lookback), func(r usage.Record, t time.Time) int {
			return r.Timestamp.Compare(t)
		})
		records = usage.TrimToBlockStart(records[i:])
	}
	blocks := usage.Blocks(records, v.Prices, now)
	res.Limits = q.Limits.Apply(blocks, now)
	if res.RateLimits, err = v.latestRateLimits(ctx); err != nil {
		return res, err
	}
	official := res.RateLimits
	if !officialFresh(official, lastRecord(records), now) {
		official = nil // stale: the estimate, if any, decides
	}
	if !v.Partial && !usage.ApplyRateLimits(blocks, official, now) {
		if res.LimitEstimate, err = v.applyLimitEstimate(ctx, blocks, now); err != nil {
			return res, err
		}
	}
	blocks = slices.DeleteFunc(blocks, func(b usage.Block) bool {
		return (!q.Since.IsZero() && b.StartTime.Before(q.Since)) ||
			(!q.Until.IsZero() && !b.StartTime.Before(q.Until)) ||
			(q.Recent && b.StartTime.Before(now.Add(-RecentWindow))) ||
			(q.Active && !b.IsActive)
	})
	res.Blocks = make([]usage.Block, len(blocks))
	for i := range blocks {
		res.Blocks[i] = v.localBlock(blocks[i])
	}
	res.Weekly.Start, res.Weekly.End = res.Weekly.Start.In(v.loc()), res.Weekly.End.In(v.loc())
	unpriced := append(usage.BlocksUnpriced(blocks), res.Weekly.UnpricedModels...)
	slices.Sort(unpriced)
	res.UnpricedModels = append([]string{}, slices.Compact(unpriced)...)
	return res, nil
}

// ResolveLimits returns l with a "max" token limit resolved against the
// blocks of all history.
func (v *Views) ResolveLimits(ctx context.Context, l usage.Limits) (usage.Limits, error) {
	if !l.TokensFromMax {
		return l, nil
	}
	records, err := v.Store.Records(ctx, usage.Filter{}, usage.Page{})
	if err != nil {
		return l, fmt.Errorf("records: %w", err)
	}
	return l.Resolve(usage.Blocks(records, v.Prices, v.now())), nil
}

// ActiveBlock returns the active block at the current time with its
// status against limits, which must be resolved (see ResolveLimits), or
// nil when no block is active. It reads only as much recent history as
// pins the block's start exactly (see activeLookbacks).
func (v *Views) ActiveBlock(ctx context.Context, limits usage.Limits) (*usage.Block, error) {
	now := v.now()
	var records []usage.Record
	for _, lookback := range activeLookbacks {
		var f usage.Filter
		if lookback > 0 {
			f.Since = now.Add(-lookback)
		}
		recs, err := v.Store.Records(ctx, f, usage.Page{})
		if err != nil {
			return nil, fmt.Errorf("records: %w", err)
		}
		if len(recs) == 0 || (lookback > 0 && now.Sub(recs[len(recs)-1].Timestamp) >= usage.BlockDuration) {
			return nil, nil // nothing in the last 5 hours: no block is active
		}
		records = usage.TrimToBlockStart(recs)
		if lookback == 0 || len(records) < len(recs) {
			break
		}
	}
	blocks := usage.Blocks(records, v.Prices, now)
	act := usage.ActiveBlock(blocks)
	if act == nil {
		return nil, nil
	}
	act.LimitStatus = limits.Status(act, now)
	if !v.Partial {
		rl, err := v.latestRateLimits(ctx)
		if err != nil {
			return nil, err
		}
		if !officialFresh(rl, lastRecord(records), now) {
			rl = nil
		}
		if !usage.ApplyRateLimits(blocks, rl, now) {
			if _, err := v.applyLimitEstimate(ctx, blocks, now); err != nil {
				return nil, err
			}
		}
	}
	b := v.localBlock(*act)
	return &b, nil
}

// latestRateLimits returns the latest rate limits Claude Code passed to
// the status line, nil when none were or none are kept.
func (v *Views) latestRateLimits(ctx context.Context) (*usage.RateLimitSample, error) {
	if v.RateLimits == nil {
		return nil, nil
	}
	rl, err := v.RateLimits.LatestRateLimits(ctx)
	switch {
	case usage.ErrorCode(err) == usage.ENOTFOUND:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	rl.Time = rl.Time.In(v.loc())
	return &rl, nil
}

// localBlock returns b with its times in the views' zone.
func (v *Views) localBlock(b usage.Block) usage.Block {
	in := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.In(v.loc())
	}
	b.StartTime, b.EndTime = in(b.StartTime), in(b.EndTime)
	b.FirstTime, b.ActualEndTime = in(b.FirstTime), in(b.ActualEndTime)
	if b.LimitStatus != nil {
		ls := *b.LimitStatus
		ls.LimitAt = in(ls.LimitAt)
		b.LimitStatus = &ls
	}
	return b
}
