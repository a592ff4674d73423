package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// recentWindow is how far back blocks?recent=true looks, as in ccusage
// and ctm blocks --recent.
const recentWindow = 3 * 24 * time.Hour

// activeLookbacks are the windows of history read, in turn, to find the
// active block. A window is enough once it holds a silence of over 5 hours,
// because the record after it opens a block over whole history too (see
// usage.TrimToBlockStart); a day holds one for anyone who sleeps, so the
// whole history (0) is read only for the rare user who never stops.
var activeLookbacks = []time.Duration{24 * time.Hour, usage.RollingWeek, 0}

// maxLimitTTL is how long the "max" token limit (the largest completed
// block over all history) is reused before all history is read again. It
// changes only when a block completes, so the active-block views, which
// run after every ingest, need not read all history each time.
const maxLimitTTL = 5 * time.Minute

// maxLimitEntries bounds the per-user cache of "max" limits; user names are
// client-chosen.
const maxLimitEntries = 256

// blockState is what the server remembers between block computations.
type blockState struct {
	// notifyMu serialises NotifyBlocks and guards its fields.
	notifyMu sync.Mutex
	// lastSent fingerprints the active block of the last block_update;
	// "" when none was active.
	lastSent string
	// alertBlock is the ID of the block alertLevel belongs to.
	alertBlock string
	alertLevel int

	maxMu sync.Mutex
	max   map[string]maxLimit // by user, "" for everyone
}

// maxLimit is a cached "max" token limit.
type maxLimit struct {
	tokens int64
	at     time.Time
}

// blocksResponse is the body of GET /blocks.
type blocksResponse struct {
	Blocks []usage.Block `json:"blocks"`
	// Limits are the per-block limits, resolved: with token_limit_max the
	// token limit is the largest completed block.
	Limits usage.Limits `json:"limits"`
	// Weekly sums the rolling 7 days ending now.
	Weekly usage.WindowTotals `json:"weekly"`
	// RateLimits are Claude's own numbers, as Claude Code last passed them
	// to ctm statusline; null when none were received.
	RateLimits     *usage.RateLimitSample `json:"rate_limits"`
	UnpricedModels []string               `json:"unpriced_models"`
}

// handleBlocks serves the 5-hour blocks of all history, or of a
// selection: active=true (the active block only), recent=true (blocks that
// started in the last 3 days), start_date and end_date (blocks that
// started in the range).
func (s *Server) handleBlocks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	active, err := enumParam(q, "active", "false", "true", "false")
	if err != nil {
		writeError(w, r, err)
		return
	}
	recent, err := enumParam(q, "recent", "false", "true", "false")
	if err != nil {
		writeError(w, r, err)
		return
	}
	sp, err := s.dateSpan(q.Get("start_date"), q.Get("end_date"), 0)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx := r.Context()
	now := s.opts.Now()
	records, err := s.store.Records(ctx, usage.Filter{}, usage.Page{})
	if err != nil {
		writeError(w, r, fmt.Errorf("records: %w", err))
		return
	}
	blocks := usage.Blocks(records, s.opts.Pricer, now)
	resp := blocksResponse{
		Limits: s.limits.Apply(blocks, now),
		Weekly: usage.WeeklyTotals(records, s.opts.Pricer, now),
	}
	if resp.RateLimits, err = s.latestRateLimits(ctx); err != nil {
		writeError(w, r, err)
		return
	}
	if userFrom(ctx) == "" {
		usage.ApplyRateLimits(blocks, resp.RateLimits, now)
	}
	blocks = slices.DeleteFunc(blocks, func(b usage.Block) bool {
		return (!sp.from.IsZero() && b.StartTime.Before(sp.from)) ||
			(!sp.to.IsZero() && !b.StartTime.Before(sp.to)) ||
			(recent == "true" && b.StartTime.Before(now.Add(-recentWindow))) ||
			(active == "true" && !b.IsActive)
	})
	resp.Blocks = make([]usage.Block, len(blocks))
	for i := range blocks {
		resp.Blocks[i] = s.localBlock(blocks[i])
	}
	resp.Weekly.Start, resp.Weekly.End = resp.Weekly.Start.In(s.opts.Location), resp.Weekly.End.In(s.opts.Location)
	unpricedModels := append(usage.BlocksUnpriced(blocks), resp.Weekly.UnpricedModels...)
	slices.Sort(unpricedModels)
	resp.UnpricedModels = append([]string{}, slices.Compact(unpricedModels)...)
	writeJSON(w, r, resp)
}

// handleActiveBlock serves the active block with its limit status, or
// data null when none is active: having no active block is a normal state,
// not an error, and a 404 would make every dashboard load log one.
func (s *Server) handleActiveBlock(w http.ResponseWriter, r *http.Request) {
	act, err := s.activeBlock(r.Context(), s.opts.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	if act == nil {
		writeJSON(w, r, json.RawMessage("null"))
		return
	}
	writeJSON(w, r, s.localBlock(*act))
}

// activeBlock returns the active block of the user of ctx at now, with its
// limit status, or nil when no block is active. It reads only as much
// recent history as pins the block's start exactly (see activeLookbacks).
func (s *Server) activeBlock(ctx context.Context, now time.Time) (*usage.Block, error) {
	var records []usage.Record
	for _, lookback := range activeLookbacks {
		var f usage.Filter
		if lookback > 0 {
			f.Since = now.Add(-lookback)
		}
		recs, err := s.store.Records(ctx, f, usage.Page{})
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
	blocks := usage.Blocks(records, s.opts.Pricer, now)
	act := usage.ActiveBlock(blocks)
	if act == nil {
		return nil, nil
	}
	limits, err := s.resolvedLimits(ctx, now)
	if err != nil {
		return nil, err
	}
	act.LimitStatus = limits.Status(act, now)
	// Rate limits come from this machine's status line and carry no user:
	// they are the truth for the unfiltered view only.
	if userFrom(ctx) == "" {
		rl, err := s.latestRateLimits(ctx)
		if err != nil {
			return nil, err
		}
		usage.ApplyRateLimits(blocks, rl, now)
	}
	return act, nil
}

// resolvedLimits returns the configured limits with a "max" token limit
// resolved against all history of the user of ctx, reusing a result for
// maxLimitTTL.
func (s *Server) resolvedLimits(ctx context.Context, now time.Time) (usage.Limits, error) {
	l := s.limits
	if !l.TokensFromMax {
		return l, nil
	}
	user := userFrom(ctx)
	st := &s.blocks
	st.maxMu.Lock()
	defer st.maxMu.Unlock()
	if m, ok := st.max[user]; ok && time.Since(m.at) < maxLimitTTL {
		l.Tokens = m.tokens
		return l, nil
	}
	records, err := s.store.Records(ctx, usage.Filter{}, usage.Page{})
	if err != nil {
		return l, fmt.Errorf("records: %w", err)
	}
	l.Tokens = usage.MaxBlockTokens(usage.Blocks(records, s.opts.Pricer, now))
	if st.max == nil || len(st.max) >= maxLimitEntries {
		st.max = map[string]maxLimit{}
	}
	st.max[user] = maxLimit{tokens: l.Tokens, at: time.Now()}
	return l, nil
}

// latestRateLimits returns the latest rate limits Claude Code passed to
// the status line, nil when none were or the store does not keep them.
func (s *Server) latestRateLimits(ctx context.Context) (*usage.RateLimitSample, error) {
	rs, ok := s.opts.Store.(usage.RateLimitStore)
	if !ok {
		return nil, nil
	}
	rl, err := rs.LatestRateLimits(ctx)
	switch {
	case usage.ErrorCode(err) == usage.ENOTFOUND:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	rl.Time = rl.Time.In(s.opts.Location)
	return &rl, nil
}

// localBlock returns b with its times in the server's time zone.
func (s *Server) localBlock(b usage.Block) usage.Block {
	in := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.In(s.opts.Location)
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

// Alert levels of BlockAlert, by increasing severity.
const (
	alertNone = iota
	alertWarning
	alertExceeded
)

// BlockAlert is the data of an alert message: the active 5-hour block
// reached 80% (warning) or 100% (exceeded) of its limit.
type BlockAlert struct {
	// Level is usage.LimitWarning or usage.LimitExceeded.
	Level string `json:"level"`
	// Threshold is the share of the limit crossed: 0.8 or 1.
	Threshold float64 `json:"threshold"`
	// Ratio is the block's share of its limit that decides its status:
	// Claude's own percentage when known, else the larger of the token
	// and cost shares (see usage.LimitStatus).
	Ratio float64 `json:"ratio"`
	// Source is usage.LimitSourceClaude, LimitSourceEstimate or
	// LimitSourceConfigured.
	Source      string      `json:"source"`
	BlockID     string      `json:"block_id"`
	StartTime   time.Time   `json:"start_time"`
	EndTime     time.Time   `json:"end_time"`
	TotalTokens int64       `json:"total_tokens"`
	CostUSD     usage.Money `json:"cost_usd"`
	TokenLimit  int64       `json:"token_limit,omitempty"`
	CostLimit   float64     `json:"cost_limit,omitempty"`
	// Message says it in a sentence, for display.
	Message string `json:"message"`
}

// NotifyBlocks computes the active block over every user's records and
// broadcasts a block_update on h when it changed since the last call (its
// data is the block, absent once no block is active), and an alert when
// the block first reaches 80% and then 100% of its limit, once each per
// block; a block that jumps past both gets the exceeded alert only. Call
// it after every ingest that wrote records; calls are serialised.
func (s *Server) NotifyBlocks(ctx context.Context, h *Hub) error {
	st := &s.blocks
	st.notifyMu.Lock()
	defer st.notifyMu.Unlock()
	// The hub's clients see every user's usage, like stats_update.
	ctx = context.WithValue(ctx, userFilterKey, "")
	now := s.opts.Now()
	act, err := s.activeBlock(ctx, now)
	if err != nil {
		return fmt.Errorf("notify blocks: %w", err)
	}
	if fp := blockFingerprint(act); fp != st.lastSent {
		var data any // absent when no block is active
		if act != nil {
			data = s.localBlock(*act)
		}
		if err := h.BroadcastBlockUpdate(data); err != nil {
			return fmt.Errorf("notify blocks: %w", err)
		}
		st.lastSent = fp
	}
	if act == nil || act.LimitStatus == nil {
		return nil
	}
	if act.ID != st.alertBlock {
		st.alertBlock, st.alertLevel = act.ID, alertNone
	}
	ls := act.LimitStatus
	ratio := ls.Ratio
	level, threshold, name := alertNone, 0.0, ""
	switch {
	case ratio >= 1:
		level, threshold, name = alertExceeded, 1, usage.LimitExceeded
	case ratio >= usage.LimitWarningRatio:
		level, threshold, name = alertWarning, usage.LimitWarningRatio, usage.LimitWarning
	}
	if level <= st.alertLevel {
		return nil
	}
	alert := BlockAlert{
		Level:       name,
		Threshold:   threshold,
		Ratio:       ratio,
		Source:      ls.Source,
		BlockID:     act.ID,
		StartTime:   act.StartTime.In(s.opts.Location),
		EndTime:     act.EndTime.In(s.opts.Location),
		TotalTokens: act.TotalTokens,
		CostUSD:     act.CostUSD,
		TokenLimit:  ls.TokenLimit,
		CostLimit:   ls.CostLimit,
		Message: fmt.Sprintf("The current 5-hour block has used %.0f%% of its %slimit; it resets at %s.",
			100*ratio, limitAdjective(ls.Source), act.EndTime.In(s.opts.Location).Format("15:04 MST")),
	}
	if err := h.BroadcastAlert(alert); err != nil {
		return fmt.Errorf("notify blocks: %w", err)
	}
	st.alertLevel = level
	return nil
}

// limitAdjective qualifies "limit" in an alert by where its share comes
// from, so that an estimate is not read as Claude's meter.
func limitAdjective(source string) string {
	switch source {
	case usage.LimitSourceClaude:
		return "Claude-reported "
	case usage.LimitSourceEstimate:
		return "estimated "
	}
	return ""
}

// blockFingerprint identifies what a block_update shows of b that only
// new records change; "" for no block. Burn rate and projection follow
// from these and the clock, so they are not compared.
func blockFingerprint(b *usage.Block) string {
	if b == nil {
		return ""
	}
	status := ""
	if b.LimitStatus != nil {
		status = b.LimitStatus.Status
	}
	return fmt.Sprintf("%s|%d|%d|%s|%s|%s", b.ID, b.Entries, b.TotalTokens, b.CostUSD,
		b.ActualEndTime.UTC().Format(time.RFC3339Nano), status)
}
