package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

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
type blocksResponse struct{ views.Blocks }

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
	b, err := s.views(r.Context()).Blocks(r.Context(), views.BlocksQuery{
		Limits: s.opts.Limits, Since: sp.From, Until: sp.To, Recent: recent == "true", Active: active == "true",
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, blocksResponse{b})
}

// handleActiveBlock serves the active block with its limit status, or
// data null when none is active: having no active block is a normal state,
// not an error, and a 404 would make every dashboard load log one.
func (s *Server) handleActiveBlock(w http.ResponseWriter, r *http.Request) {
	act, err := s.activeBlock(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	if act == nil {
		writeJSON(w, r, json.RawMessage("null"))
		return
	}
	writeJSON(w, r, act)
}

// activeBlock returns the active block of the user of ctx with its limit
// status, or nil when no block is active.
func (s *Server) activeBlock(ctx context.Context) (*usage.Block, error) {
	limits, err := s.resolvedLimits(ctx)
	if err != nil {
		return nil, err
	}
	return s.views(ctx).ActiveBlock(ctx, limits)
}

// resolvedLimits returns the configured limits with a "max" token limit
// resolved against all history of the user of ctx, reusing a result for
// maxLimitTTL.
func (s *Server) resolvedLimits(ctx context.Context) (usage.Limits, error) {
	l := s.opts.Limits
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
	l, err := s.views(ctx).ResolveLimits(ctx, l)
	if err != nil {
		return l, err
	}
	if st.max == nil || len(st.max) >= maxLimitEntries {
		st.max = map[string]maxLimit{}
	}
	st.max[user] = maxLimit{tokens: l.Tokens, at: time.Now()}
	return l, nil
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
// broadcasts a block_update on the hub when it changed since the last call (its
// data is the block, absent once no block is active), and an alert when
// the block first reaches 80% and then 100% of its limit, once each per
// block; a block that jumps past both gets the exceeded alert only. Call
// it after every ingest that wrote records; calls are serialised.
func (s *Server) NotifyBlocks(ctx context.Context) error {
	h := s.hub
	if h == nil {
		return errors.New("notify blocks: the server has no WebSocket feed")
	}
	st := &s.blocks
	st.notifyMu.Lock()
	defer st.notifyMu.Unlock()
	// The hub's clients see every user's usage, like stats_update.
	ctx = context.WithValue(ctx, userFilterKey, "")
	act, err := s.activeBlock(ctx)
	if err != nil {
		return fmt.Errorf("notify blocks: %w", err)
	}
	if fp := blockFingerprint(act); fp != st.lastSent {
		var data any // absent when no block is active
		if act != nil {
			data = *act
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
