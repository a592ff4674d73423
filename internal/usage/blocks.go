package usage

import (
	"math"
	"slices"
	"strings"
	"time"
)

// BlockDuration is the length of a Claude usage window: subscriptions meter
// usage in 5-hour blocks that start with the first request.
const BlockDuration = 5 * time.Hour

// Block is one 5-hour usage window, or a gap of inactivity between two
// windows. Its fields serve the CLI's --json, the API and WebSocket events
// as they are.
type Block struct {
	// ID is the block's start in RFC 3339 (UTC), prefixed with "gap-" for
	// gaps; it identifies a block across recomputations.
	ID string `json:"id"`
	// StartTime is the first record's time floored to the UTC hour; for a
	// gap, the end of the window before it.
	StartTime time.Time `json:"start_time"`
	// EndTime is StartTime + BlockDuration; for a gap, the time of the
	// record that ends it.
	EndTime time.Time `json:"end_time"`
	// FirstTime and ActualEndTime are the times of the block's first and
	// last records; zero (omitted) for gaps.
	FirstTime     time.Time `json:"first_time,omitzero"`
	ActualEndTime time.Time `json:"actual_end_time,omitzero"`
	// IsActive is set while the window is still open: now is before
	// EndTime and the last record is less than BlockDuration old.
	IsActive bool  `json:"is_active"`
	IsGap    bool  `json:"is_gap"`
	Entries  int64 `json:"entries"`
	Tokens
	CacheCreationTokens int64 `json:"cache_creation_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	// LimitTokens are the tokens a token limit counts (Tokens.LimitTokens).
	LimitTokens int64 `json:"limit_tokens"`
	CostUSD     Money `json:"cost_usd"`
	// Models lists the block's models in order of first use.
	Models []string `json:"models"`
	// UnpricedModels lists the block's models that had no price; their
	// cost counts as 0.
	UnpricedModels []string `json:"unpriced_models,omitempty"`
	// BurnRate is nil for gaps and for blocks whose records all share one
	// instant, where no rate can be measured.
	BurnRate *BurnRate `json:"burn_rate"`
	// Projection is set for the active block only.
	Projection *Projection `json:"projection"`
	// LimitStatus is set by Limits.Apply when a limit is configured.
	LimitStatus *LimitStatus `json:"limit_status"`
}

// BurnRate is how fast a block consumed tokens and money between its first
// and last record.
type BurnRate struct {
	TokensPerMinute float64 `json:"tokens_per_minute"`
	// LimitTokensPerMinute is the rate of the tokens a limit counts.
	LimitTokensPerMinute float64 `json:"limit_tokens_per_minute"`
	CostPerHour          float64 `json:"cost_per_hour"`
}

// Projection extrapolates the active block's burn rate to its end.
type Projection struct {
	TotalTokens      int64   `json:"total_tokens"`
	LimitTokens      int64   `json:"limit_tokens"`
	CostUSD          Money   `json:"cost_usd"`
	RemainingMinutes float64 `json:"remaining_minutes"`
}

// blockBuilder accumulates the records of one block.
type blockBuilder struct {
	b      Block
	models map[string]bool
}

func newBlockBuilder(start time.Time) *blockBuilder {
	return &blockBuilder{
		b: Block{
			ID:        start.UTC().Format(time.RFC3339),
			StartTime: start,
			EndTime:   start.Add(BlockDuration),
			Models:    []string{},
		},
		models: map[string]bool{},
	}
}

func (bb *blockBuilder) add(r *Record, p Pricer) {
	b := &bb.b
	if b.Entries == 0 {
		b.FirstTime = r.Timestamp
	}
	b.ActualEndTime = r.Timestamp
	b.Entries++
	b.Tokens = b.Tokens.Add(r.Tokens)
	b.CostUSD = b.CostUSD.Add(r.Cost)
	if !bb.models[r.Model] {
		bb.models[r.Model] = true
		b.Models = append(b.Models, r.Model)
		if !p.Priced(r.Model) {
			b.UnpricedModels = append(b.UnpricedModels, r.Model)
		}
	}
}

// finish derives the block's totals, activity, burn rate and projection.
func (bb *blockBuilder) finish(now time.Time) Block {
	b := bb.b
	b.CacheCreationTokens = b.Tokens.CacheCreation()
	b.TotalTokens = b.Tokens.Total()
	b.LimitTokens = b.Tokens.LimitTokens()
	slices.Sort(b.UnpricedModels)
	b.IsActive = now.Before(b.EndTime) && now.Sub(b.ActualEndTime) < BlockDuration
	b.BurnRate = burnRate(&b)
	if b.IsActive && b.BurnRate != nil {
		remaining := max(0, b.EndTime.Sub(now).Minutes())
		b.Projection = &Projection{
			TotalTokens:      b.TotalTokens + int64(math.Round(b.BurnRate.TokensPerMinute*remaining)),
			LimitTokens:      b.LimitTokens + int64(math.Round(b.BurnRate.LimitTokensPerMinute*remaining)),
			CostUSD:          b.CostUSD.Add(Money(math.Round(b.BurnRate.CostPerHour / 60 * remaining * MoneyPerUSD))),
			RemainingMinutes: remaining,
		}
	}
	return b
}

// burnRate measures a block's rate between its first and last record, as
// ccusage does: nil when they share one instant.
func burnRate(b *Block) *BurnRate {
	minutes := b.ActualEndTime.Sub(b.FirstTime).Minutes()
	if b.IsGap || b.Entries == 0 || minutes <= 0 {
		return nil
	}
	return &BurnRate{
		TokensPerMinute:      float64(b.TotalTokens) / minutes,
		LimitTokensPerMinute: float64(b.LimitTokens) / minutes,
		CostPerHour:          b.CostUSD.USD() / minutes * 60,
	}
}

// gapBlock returns the block of inactivity between a record at last and the
// block that starts at next: from the end of the window the last record
// could still have counted in (as ccusage starts it) to the next block's
// start. ccusage ends a gap at the next record instead, which puts the gap
// inside the next block, up to an hour of it or all of it; ok is false when
// no time is left between the two, and no gap is shown.
func gapBlock(last, next time.Time) (gap Block, ok bool) {
	start := last.Add(BlockDuration)
	if !start.Before(next) {
		return Block{}, false
	}
	return Block{
		ID:        "gap-" + start.UTC().Format(time.RFC3339Nano),
		StartTime: start,
		EndTime:   next,
		IsGap:     true,
		Models:    []string{},
	}, true
}

// Blocks cuts records into 5-hour usage windows with the algorithm ccusage
// uses, so users see the same windows in both tools: records are taken in
// time order; a block starts at its first record's time floored to the UTC
// hour; a record more than BlockDuration after the block's start or after
// the previous record opens a new block; a silence of more than
// BlockDuration between two records appears as a gap block that ends where
// the next block starts (see gapBlock). A block is
// active while now is before its end and its last record is less than
// BlockDuration old. Each record is priced on its own, so long-context
// pricing applies per request. records need not be sorted and are not
// modified.
func Blocks(records []Record, p Pricer, now time.Time) []Block {
	if len(records) == 0 {
		return []Block{}
	}
	order := make([]*Record, len(records))
	for i := range records {
		order[i] = &records[i]
	}
	slices.SortStableFunc(order, func(a, b *Record) int { return a.Timestamp.Compare(b.Timestamp) })

	var blocks []Block
	var cur *blockBuilder
	var last time.Time
	for _, r := range order {
		t := r.Timestamp
		if cur != nil && (t.Sub(cur.b.StartTime) > BlockDuration || t.Sub(last) > BlockDuration) {
			blocks = append(blocks, cur.finish(now))
			if t.Sub(last) > BlockDuration {
				if gap, ok := gapBlock(last, t.UTC().Truncate(time.Hour)); ok {
					blocks = append(blocks, gap)
				}
			}
			cur = nil
		}
		if cur == nil {
			cur = newBlockBuilder(t.UTC().Truncate(time.Hour))
		}
		cur.add(r, p)
		last = t
	}
	blocks = append(blocks, cur.finish(now))
	slices.SortStableFunc(blocks, func(a, b Block) int { return a.StartTime.Compare(b.StartTime) })
	return blocks
}

// TrimToBlockStart returns the part of records, sorted by time, that starts
// at the first record following a silence longer than BlockDuration: such a
// record always opens a block, so the blocks of the part are exactly the
// last blocks of the whole history. Views of recent blocks use it to read a
// bounded window of records instead of all history. Without such a silence
// it returns records unchanged, and the first block of the window may then
// start later than it would over the whole history.
func TrimToBlockStart(records []Record) []Record {
	for i := 1; i < len(records); i++ {
		if records[i].Timestamp.Sub(records[i-1].Timestamp) > BlockDuration {
			return records[i:]
		}
	}
	return records
}

// ActiveBlock returns the active block of blocks, or nil when none is.
func ActiveBlock(blocks []Block) *Block {
	for i := len(blocks) - 1; i >= 0; i-- {
		if blocks[i].IsActive {
			return &blocks[i]
		}
	}
	return nil
}

// BlocksUnpriced returns the sorted union of the blocks' unpriced models.
func BlocksUnpriced(blocks []Block) []string {
	var out []string
	for i := range blocks {
		out = append(out, blocks[i].UnpricedModels...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Plan is a Claude subscription, which sets default per-block limits.
type Plan string

// The plans users name in PLAN.
const (
	PlanPro    Plan = "pro"
	PlanMax5   Plan = "max5"
	PlanMax20  Plan = "max20"
	PlanCustom Plan = "custom"
)

// PlanLimit is the default per-block limit of a plan: community estimates,
// not Anthropic's figures.
type PlanLimit struct {
	// Tokens counts input, output and cache writes (Tokens.LimitTokens).
	// It is shown for reference and decides no status: a plan's token and
	// cost figures disagree by an order of magnitude on real blocks, and
	// the cost figure tracks what Claude meters (its allowance weighs
	// tokens by model, as prices do).
	Tokens int64
	// CostUSD is the plan's allowance per block in API-price dollars; the
	// status of a block against a plan is its cost against this.
	CostUSD float64
}

// PlanLimits are the per-block limits users of Claude-Code-Usage-Monitor
// (Maciek-roboblog/Claude-Code-Usage-Monitor, core/plans.py) and ccusage
// know. Anthropic publishes neither figure; both are estimates, and views
// mark them so. Claude Code's own rate_limits percentages, when received,
// replace them for the active block (see ApplyRateLimits).
var PlanLimits = map[Plan]PlanLimit{
	PlanPro:   {Tokens: 19_000, CostUSD: 18},
	PlanMax5:  {Tokens: 88_000, CostUSD: 35},
	PlanMax20: {Tokens: 220_000, CostUSD: 140},
}

// Sources of a LimitStatus.
const (
	// LimitSourceClaude: Claude Code's own rate_limits, the truth.
	LimitSourceClaude = "claude"
	// LimitSourceEstimate: a plan's estimated allowance.
	LimitSourceEstimate = "estimate"
	// LimitSourceConfigured: TOKEN_LIMIT, COST_LIMIT or "max".
	LimitSourceConfigured = "configured"
	// LimitSourceSamples: the limit estimated from stored rate_limits
	// samples (see views.EstimateLimit).
	LimitSourceSamples = "samples"
)

// Limit statuses, by increasing severity.
const (
	LimitOK       = "ok"
	LimitWarning  = "warning"
	LimitExceeded = "exceeded"
)

// LimitWarningRatio is the share of a limit at which a block's status turns
// to warning.
const LimitWarningRatio = 0.8

// Limits are the per-block token and cost limits a block is held against.
// The zero value sets no limit.
type Limits struct {
	Plan Plan `json:"plan,omitempty"`
	// Tokens is the token limit (TOKEN_LIMIT or "max"), compared with a
	// block's LimitTokens; 0 for none. A plan sets none: see PlanLimit.
	Tokens int64 `json:"token_limit,omitempty"`
	// PlanTokens is the plan's token estimate, for reference only.
	PlanTokens int64 `json:"plan_token_estimate,omitempty"`
	// Estimate is set when CostUSD is a plan's estimate rather than a
	// COST_LIMIT the user set.
	Estimate bool `json:"estimate,omitempty"`
	// TokensFromMax makes the token limit the largest total of a completed
	// block (TOKEN_LIMIT=max); Resolve fills Tokens from it.
	TokensFromMax bool `json:"token_limit_max,omitempty"`
	// CostUSD is the cost limit, 0 for none.
	CostUSD float64 `json:"cost_limit,omitempty"`
}

// NewLimits builds Limits from the configured plan ("" for none), token
// limit (0 for the plan's, negative for "max": the largest completed
// block) and cost limit (0 for the plan's). Explicit limits override the
// plan's. Returns EINVALID for an unknown plan, a negative cost limit, or
// plan custom without a token or cost limit.
func NewLimits(plan string, tokens int64, costUSD float64) (Limits, error) {
	l := Limits{Plan: Plan(strings.ToLower(strings.TrimSpace(plan)))}
	if costUSD < 0 || math.IsNaN(costUSD) || math.IsInf(costUSD, 0) {
		return Limits{}, Errorf(EINVALID, "COST_LIMIT: %v must be a non-negative amount", costUSD)
	}
	switch l.Plan {
	case "":
	case PlanCustom:
		if tokens == 0 && costUSD == 0 {
			return Limits{}, Errorf(EINVALID, "PLAN=custom needs TOKEN_LIMIT or COST_LIMIT")
		}
	default:
		pl, ok := PlanLimits[l.Plan]
		if !ok {
			return Limits{}, Errorf(EINVALID, "PLAN: %q is not one of pro, max5, max20, custom", plan)
		}
		l.PlanTokens, l.CostUSD, l.Estimate = pl.Tokens, pl.CostUSD, true
	}
	switch {
	case tokens < 0:
		l.Tokens, l.TokensFromMax = 0, true
	case tokens > 0:
		l.Tokens = tokens
	}
	if costUSD > 0 {
		l.CostUSD, l.Estimate = costUSD, false
	}
	return l, nil
}

// IsZero reports whether l sets no limit.
func (l Limits) IsZero() bool { return l.Tokens == 0 && !l.TokensFromMax && l.CostUSD == 0 }

// Resolve returns l with a "max" token limit replaced by the largest
// LimitTokens of the completed (neither active nor gap) blocks; it stays 0
// when there is none.
func (l Limits) Resolve(blocks []Block) Limits {
	if !l.TokensFromMax {
		return l
	}
	l.Tokens = MaxBlockTokens(blocks)
	return l
}

// MaxBlockTokens returns the largest LimitTokens of a completed block, 0
// when no block is completed.
func MaxBlockTokens(blocks []Block) int64 {
	var m int64
	for i := range blocks {
		if b := &blocks[i]; !b.IsGap && !b.IsActive {
			m = max(m, b.LimitTokens)
		}
	}
	return m
}

// LimitStatus is where a block stands against its limits.
type LimitStatus struct {
	// Status is ok, warning (Ratio at least 80%) or exceeded (at least
	// 100%).
	Status string `json:"status"`
	// Source says where Ratio comes from: LimitSourceClaude,
	// LimitSourceEstimate or LimitSourceConfigured.
	Source string `json:"source"`
	// Ratio is the share of the limit used that decides Status: Claude's
	// own five-hour percentage, else the larger of TokenRatio and
	// CostRatio.
	Ratio      float64 `json:"ratio"`
	TokenLimit int64   `json:"token_limit,omitempty"`
	TokenRatio float64 `json:"token_ratio,omitempty"`
	CostLimit  float64 `json:"cost_limit,omitempty"`
	CostRatio  float64 `json:"cost_ratio,omitempty"`
	// ProjectedStatus is the status the active block's projection reaches
	// at its end.
	ProjectedStatus string `json:"projected_status,omitempty"`
	// LimitAt is when the active block reaches its first limit at its
	// current burn rate, if that is before the block ends; the time it was
	// exceeded is not known, so it is zero once a limit is exceeded.
	LimitAt time.Time `json:"limit_at,omitzero"`
	// Samples and Confidence describe the estimate behind CostLimit when
	// Source is LimitSourceSamples.
	Samples    int     `json:"samples,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
}

// Status returns where b stands against l, or nil for a gap or when l sets
// no limit. l must be resolved (see Resolve).
func (l Limits) Status(b *Block, now time.Time) *LimitStatus {
	if b.IsGap || (l.Tokens <= 0 && l.CostUSD <= 0) {
		return nil
	}
	s := &LimitStatus{TokenLimit: max(l.Tokens, 0), CostLimit: l.CostUSD, Source: LimitSourceConfigured}
	if l.Estimate && l.Tokens <= 0 {
		s.Source = LimitSourceEstimate
	}
	ratio := 0.0
	if l.Tokens > 0 {
		s.TokenRatio = float64(b.LimitTokens) / float64(l.Tokens)
		ratio = s.TokenRatio
	}
	if l.CostUSD > 0 {
		s.CostRatio = b.CostUSD.USD() / l.CostUSD
		ratio = max(ratio, s.CostRatio)
	}
	s.Ratio, s.Status = ratio, statusOf(ratio)
	if p := b.Projection; p != nil {
		pr := 0.0
		if l.Tokens > 0 {
			pr = float64(p.LimitTokens) / float64(l.Tokens)
		}
		if l.CostUSD > 0 {
			pr = max(pr, p.CostUSD.USD()/l.CostUSD)
		}
		s.ProjectedStatus = statusOf(pr)
	}
	if b.IsActive && b.BurnRate != nil && ratio < 1 {
		s.LimitAt = l.limitAt(b, now)
	}
	return s
}

// limitAt returns when b's first limit is reached at its burn rate, zero if
// not before the block ends.
func (l Limits) limitAt(b *Block, now time.Time) time.Time {
	minutes := math.Inf(1)
	if l.Tokens > 0 && b.BurnRate.LimitTokensPerMinute > 0 {
		minutes = float64(l.Tokens-b.LimitTokens) / b.BurnRate.LimitTokensPerMinute
	}
	if l.CostUSD > 0 && b.BurnRate.CostPerHour > 0 {
		minutes = min(minutes, (l.CostUSD-b.CostUSD.USD())/b.BurnRate.CostPerHour*60)
	}
	if math.IsInf(minutes, 1) {
		return time.Time{}
	}
	at := now.Add(time.Duration(minutes * float64(time.Minute)))
	if !at.Before(b.EndTime) {
		return time.Time{}
	}
	return at
}

func statusOf(ratio float64) string {
	switch {
	case ratio >= 1:
		return LimitExceeded
	case ratio >= LimitWarningRatio:
		return LimitWarning
	default:
		return LimitOK
	}
}

// Apply resolves l against blocks and sets every block's LimitStatus. It
// returns the resolved limits.
func (l Limits) Apply(blocks []Block, now time.Time) Limits {
	l = l.Resolve(blocks)
	for i := range blocks {
		blocks[i].LimitStatus = l.Status(&blocks[i], now)
	}
	return l
}

// ApplyRateLimits makes Claude Code's own five-hour percentage the limit
// status of the active block, replacing any computed from limits: it is
// what Claude meters, where plan figures are guesses. The sample applies
// when it was received during the block and its window has not reset
// since; otherwise blocks keep their computed status. Returns whether it
// applied. rl may be nil.
func ApplyRateLimits(blocks []Block, rl *RateLimitSample, now time.Time) bool {
	act := ActiveBlock(blocks)
	if act == nil || rl == nil || rl.FiveHour == nil ||
		rl.Time.Before(act.StartTime) || !rl.Time.Before(act.EndTime) ||
		(!rl.FiveHour.ResetsAt.IsZero() && !rl.FiveHour.ResetsAt.After(now)) {
		return false
	}
	ratio := rl.FiveHour.UsedPercentage / 100
	s := &LimitStatus{Status: statusOf(ratio), Source: LimitSourceClaude, Ratio: ratio}
	if prev := act.LimitStatus; prev != nil {
		// Keep the computed shares for reference; the projection and
		// the time to the limit were computed against them, not against
		// Claude's meter, so they are dropped.
		s.TokenLimit, s.TokenRatio, s.CostLimit, s.CostRatio = prev.TokenLimit, prev.TokenRatio, prev.CostLimit, prev.CostRatio
	}
	act.LimitStatus = s
	return true
}

// ApplyEstimatedLimit holds the active block against a 5-hour cost limit
// estimated from samples of Claude's own percentages, replacing a status
// computed from plan presets or configured limits: the estimate measures
// this user's real allowance. Use it only when ApplyRateLimits did not
// apply. Returns whether there was an active block.
func ApplyEstimatedLimit(blocks []Block, limit Money, samples int, confidence float64, now time.Time) bool {
	act := ActiveBlock(blocks)
	if act == nil || limit <= 0 {
		return false
	}
	s := Limits{CostUSD: limit.USD()}.Status(act, now)
	s.Source, s.Samples, s.Confidence = LimitSourceSamples, samples, confidence
	act.LimitStatus = s
	return true
}

// WindowTotals sums the records of a time window, such as the rolling week.
type WindowTotals struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Tokens
	CacheCreationTokens int64    `json:"cache_creation_tokens"`
	TotalTokens         int64    `json:"total_tokens"`
	CostUSD             Money    `json:"cost_usd"`
	Entries             int64    `json:"entries"`
	Models              []string `json:"models"`
	UnpricedModels      []string `json:"unpriced_models,omitempty"`
}

// RollingWeek is the window WeeklyTotals sums.
const RollingWeek = 7 * 24 * time.Hour

// WeeklyTotals sums the records of the rolling 7 days that end at now,
// [now-7d, now), each priced on its own.
func WeeklyTotals(records []Record, p Pricer, now time.Time) WindowTotals {
	return WindowTotalsOf(records, p, now.Add(-RollingWeek), now)
}

// WindowTotalsOf sums the records in [start, end), the meaning of
// Filter's bounds. Models are sorted by name.
func WindowTotalsOf(records []Record, p Pricer, start, end time.Time) WindowTotals {
	w := WindowTotals{Start: start, End: end, Models: []string{}}
	for i := range records {
		r := &records[i]
		if r.Timestamp.Before(start) || !r.Timestamp.Before(end) {
			continue
		}
		w.Tokens = w.Tokens.Add(r.Tokens)
		w.Entries++
		w.CostUSD = w.CostUSD.Add(r.Cost)
		w.Models = append(w.Models, r.Model)
		if !p.Priced(r.Model) {
			w.UnpricedModels = append(w.UnpricedModels, r.Model)
		}
	}
	w.CacheCreationTokens = w.Tokens.CacheCreation()
	w.TotalTokens = w.Tokens.Total()
	slices.Sort(w.Models)
	w.Models = slices.Compact(w.Models)
	slices.Sort(w.UnpricedModels)
	w.UnpricedModels = slices.Compact(w.UnpricedModels)
	return w
}
