package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// blockNow is in the corpus's last block (its records of 2026-03-01 run
// from 07:12 to 09:14 UTC), so a block is active then.
var blockNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// blockJSON mirrors the block fields of DESIGN's blocks JSON.
type blockJSON struct {
	ID            string    `json:"id"`
	StartTime     time.Time `json:"start_time"`
	EndTime       time.Time `json:"end_time"`
	ActualEndTime time.Time `json:"actual_end_time"`
	IsActive      bool      `json:"is_active"`
	IsGap         bool      `json:"is_gap"`
	Entries       int64     `json:"entries"`
	agg
	Models   []string `json:"models"`
	BurnRate *struct {
		TokensPerMinute float64 `json:"tokens_per_minute"`
		CostPerHour     float64 `json:"cost_per_hour"`
	} `json:"burn_rate"`
	Projection *struct {
		TotalTokens      int64   `json:"total_tokens"`
		CostUSD          float64 `json:"cost_usd"`
		RemainingMinutes float64 `json:"remaining_minutes"`
	} `json:"projection"`
	LimitStatus *struct {
		Status     string  `json:"status"`
		Source     string  `json:"source"`
		Ratio      float64 `json:"ratio"`
		TokenLimit int64   `json:"token_limit"`
		TokenRatio float64 `json:"token_ratio"`
		CostLimit  float64 `json:"cost_limit"`
		CostRatio  float64 `json:"cost_ratio"`
	} `json:"limit_status"`
}

type blocksJSON struct {
	Blocks []blockJSON `json:"blocks"`
	Limits struct {
		Plan          string  `json:"plan"`
		TokenLimit    int64   `json:"token_limit"`
		PlanTokens    int64   `json:"plan_token_estimate"`
		Estimate      bool    `json:"estimate"`
		TokenLimitMax bool    `json:"token_limit_max"`
		CostLimit     float64 `json:"cost_limit"`
	} `json:"limits"`
	Weekly struct {
		agg
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"weekly"`
	RateLimits *usage.RateLimitSample `json:"rate_limits"`
	Unpriced   []string               `json:"unpriced_models"`
}

func TestBlocksOfCorpus(t *testing.T) {
	h := newServer(t, nil).Handler()
	var got blocksJSON
	get(t, h, "/api/v1/blocks", &got)
	want := usage.Blocks(fixture.records, fixture.pricer, testNow)
	if len(got.Blocks) != len(want) {
		t.Fatalf("blocks = %d, want %d", len(got.Blocks), len(want))
	}
	var sum figures
	for i, b := range got.Blocks {
		w := want[i]
		if b.ID != w.ID || !b.StartTime.Equal(w.StartTime) || b.IsGap != w.IsGap || b.Entries != w.Entries ||
			b.TotalTokens != w.TotalTokens || !near(b.CostUSD, w.CostUSD.USD()) {
			t.Errorf("block %d = %s %v gap=%v %d entries %d tokens $%f, want %s %v gap=%v %d entries %d tokens $%s",
				i, b.ID, b.StartTime, b.IsGap, b.Entries, b.TotalTokens, b.CostUSD,
				w.ID, w.StartTime, w.IsGap, w.Entries, w.TotalTokens, w.CostUSD)
		}
		if b.IsActive {
			t.Errorf("block %s is active at %v, after the corpus's last record", b.ID, testNow)
		}
		if b.LimitStatus != nil {
			t.Errorf("block %s has a limit status without limits", b.ID)
		}
		a := b.agg
		sum = sum.add(figures{a.InputTokens, a.OutputTokens, a.CacheCreationTokens, a.CacheCreation5m,
			a.CacheCreation1h, a.CacheReadTokens, a.WebSearchRequests, a.CostUSD, b.Entries})
	}
	// The blocks partition the records: they add up to the accounting.
	checkFigures(t, "sum of blocks", agg{InputTokens: sum.Input, OutputTokens: sum.Output,
		CacheCreationTokens: sum.CacheCreation, CacheCreation5m: sum.CW5, CacheCreation1h: sum.CW1,
		CacheReadTokens: sum.CacheRead, TotalTokens: sum.total(), WebSearchRequests: sum.WebSearch,
		CostUSD: sum.CostUSD, Entries: sum.Entries, CacheHitRate: fixture.expected.Totals.hitRate()}, fixture.expected.Totals)

	// The rolling week ends at now: 2026-02-22T23:00 .. 2026-03-01T23:00
	// holds the corpus days 2026-02-26 and 2026-03-01.
	week := fixture.expected.Daily["2026-02-26"].add(fixture.expected.Daily["2026-03-01"])
	if got.Weekly.TotalTokens != week.total() || got.Weekly.Entries != week.Entries || !near(got.Weekly.CostUSD, week.CostUSD) {
		t.Errorf("weekly = %d tokens %d entries $%f, want %d tokens %d entries $%f",
			got.Weekly.TotalTokens, got.Weekly.Entries, got.Weekly.CostUSD, week.total(), week.Entries, week.CostUSD)
	}
	if !got.Weekly.End.Equal(testNow) || !got.Weekly.Start.Equal(testNow.Add(-7*24*time.Hour)) {
		t.Errorf("weekly window = %v..%v, want the 7 days before %v", got.Weekly.Start, got.Weekly.End, testNow)
	}
	if got.RateLimits != nil {
		t.Errorf("rate_limits = %+v, want null when none were received", got.RateLimits)
	}
	if got.Unpriced == nil {
		t.Errorf("unpriced_models is null, want a list")
	}
}

func (f figures) hitRate() float64 {
	if p := f.Input + f.CacheCreation + f.CacheRead; p > 0 {
		return float64(f.CacheRead) / float64(p)
	}
	return 0
}

func TestBlocksSelection(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	h := newServer(t, func(o *options) {
		o.Now = func() time.Time { return blockNow }
		o.Location = ny
		o.Limits = mustLimits(t, "max20", 0, 0)
	}).Handler()
	all := usage.Blocks(fixture.records, fixture.pricer, blockNow)
	act := usage.ActiveBlock(all)
	if act == nil {
		t.Fatalf("the corpus has no active block at %v; the fixture is wrong", blockNow)
	}

	t.Run("active", func(t *testing.T) {
		var got blocksJSON
		get(t, h, "/api/v1/blocks?active=true", &got)
		if len(got.Blocks) != 1 || got.Blocks[0].ID != act.ID || !got.Blocks[0].IsActive {
			t.Fatalf("active blocks = %+v, want only %s", got.Blocks, act.ID)
		}
		if pl := usage.PlanLimits[usage.PlanMax20]; got.Limits.Plan != "max20" || got.Limits.TokenLimit != 0 ||
			got.Limits.PlanTokens != pl.Tokens || got.Limits.CostLimit != pl.CostUSD || !got.Limits.Estimate {
			t.Errorf("limits = %+v, want plan max20's estimates, its tokens for reference only", got.Limits)
		}
	})

	t.Run("recent", func(t *testing.T) {
		var got blocksJSON
		get(t, h, "/api/v1/blocks?recent=true", &got)
		want := 0
		for _, b := range all {
			if !b.StartTime.Before(blockNow.Add(-72 * time.Hour)) {
				want++
			}
		}
		if len(got.Blocks) != want || want == 0 {
			t.Fatalf("recent blocks = %d, want %d (> 0)", len(got.Blocks), want)
		}
		for _, b := range got.Blocks {
			if b.StartTime.Before(blockNow.Add(-72 * time.Hour)) {
				t.Errorf("recent block %s starts %v, over 3 days before %v", b.ID, b.StartTime, blockNow)
			}
		}
	})

	t.Run("date range in the server's zone", func(t *testing.T) {
		var got blocksJSON
		// 2026-02-26 in New York is 05:00Z on the 26th to 05:00Z on the 27th.
		get(t, h, "/api/v1/blocks?start_date=2026-02-26&end_date=2026-02-26", &got)
		from := time.Date(2026, 2, 26, 0, 0, 0, 0, ny)
		want := 0
		for _, b := range all {
			if !b.StartTime.Before(from) && b.StartTime.Before(from.AddDate(0, 0, 1)) {
				want++
			}
		}
		if len(got.Blocks) != want || want == 0 {
			t.Fatalf("blocks on 2026-02-26 = %d, want %d (> 0)", len(got.Blocks), want)
		}
	})

	t.Run("active block route", func(t *testing.T) {
		r := get(t, h, "/api/v1/blocks/active", nil)
		var b blockJSON
		if err := json.Unmarshal(r.Env.Data, &b); err != nil {
			t.Fatal(err)
		}
		if b.ID != act.ID || b.TotalTokens != act.TotalTokens || b.Entries != act.Entries || !near(b.CostUSD, act.CostUSD.USD()) {
			t.Errorf("active = %s %d tokens %d entries, want %s %d tokens %d entries",
				b.ID, b.TotalTokens, b.Entries, act.ID, act.TotalTokens, act.Entries)
		}
		if b.BurnRate == nil || b.Projection == nil {
			t.Fatalf("active block lacks burn_rate or projection: %s", r.Env.Data)
		}
		if want := act.EndTime.Sub(blockNow).Minutes(); !near(b.Projection.RemainingMinutes, want) {
			t.Errorf("remaining_minutes = %v, want %v", b.Projection.RemainingMinutes, want)
		}
		// The plan's estimate is a cost-equivalent: the status is the
		// block's cost against it, never against a token figure.
		limit := usage.PlanLimits[usage.PlanMax20].CostUSD
		if s := b.LimitStatus; s == nil || s.CostLimit != limit || s.TokenLimit != 0 || s.Source != usage.LimitSourceEstimate ||
			!near(s.CostRatio, act.CostUSD.USD()/limit) || !near(s.Ratio, s.CostRatio) {
			t.Errorf("limit_status = %+v, want the estimate's ratio to $%v", b.LimitStatus, limit)
		}
		// Times are in the server's zone (EST, UTC-5, on 2026-03-01).
		var raw struct {
			StartTime string `json:"start_time"`
		}
		_ = json.Unmarshal(r.Env.Data, &raw)
		if !strings.HasSuffix(raw.StartTime, "-05:00") {
			t.Errorf("start_time %q is not in America/New_York", raw.StartTime)
		}
	})

	t.Run("no active block", func(t *testing.T) {
		// A normal answer, not an error: 200 with data null.
		r := get(t, newServer(t, nil).Handler(), "/api/v1/blocks/active", nil)
		if string(r.Env.Data) != "null" {
			t.Errorf("data = %s, want null", r.Env.Data)
		}
	})
}

func TestBlocksBadParams(t *testing.T) {
	h := newServer(t, nil).Handler()
	for _, tc := range []struct{ target, param string }{
		{"/api/v1/blocks?active=yes", "active"},
		{"/api/v1/blocks?recent=1", "recent"},
		{"/api/v1/blocks?start_date=2026-13-01", "start_date"},
		{"/api/v1/blocks?end_date=yesterday", "end_date"},
		{"/api/v1/blocks?start_date=2026-02-02&end_date=2026-02-01", "start_date"},
		{"/api/v1/blocks?user=%20x", "user"},
		{"/api/v1/blocks/active?user=a%00b", "user"},
	} {
		r := do(t, h, http.MethodGet, tc.target, nil)
		wantError(t, r, http.StatusBadRequest, "INVALID_PARAMS", tc.param)
	}
}

// synth returns a record of one request of user at t.
func synth(id string, at time.Time, user string, input, output int64) usage.Record {
	return usage.Record{
		Key:       usage.RecordKey("msg_"+id, "req_"+id, ""),
		MessageID: "msg_" + id, RequestID: "req_" + id,
		Timestamp: at, Model: "claude-sonnet-4-5", SessionID: "session-" + user, Project: "/work/" + user,
		User: user, Tokens: usage.Tokens{Input: input, Output: output},
	}
}

// synthStore opens a store in a temp dir holding recs.
func synthStore(t *testing.T, recs []usage.Record) *sqlite.Store {
	t.Helper()
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "synth.db"), recs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestActiveBlockWithoutSilence(t *testing.T) {
	// A request every 2 hours for 10 days: no silence of over 5 hours, so
	// the active block's start depends on all history, not on a window.
	start := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	var recs []usage.Record
	for i := range 120 {
		recs = append(recs, synth(fmt.Sprint(i), start.Add(time.Duration(i)*2*time.Hour), "", 100, 10))
	}
	now := recs[len(recs)-1].Timestamp.Add(10 * time.Minute)
	want := usage.ActiveBlock(usage.Blocks(recs, fixture.pricer, now))
	if want == nil {
		t.Fatal("no active block in the synthetic history")
	}
	st := synthStore(t, recs)
	h := newServer(t, func(o *options) {
		o.Store = st
		o.Now = func() time.Time { return now }
	}).Handler()
	var got blockJSON
	get(t, h, "/api/v1/blocks/active", &got)
	if got.ID != want.ID || got.Entries != want.Entries {
		t.Errorf("active = %s with %d entries, want %s with %d", got.ID, got.Entries, want.ID, want.Entries)
	}
}

func TestBlocksTokenLimitMax(t *testing.T) {
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	recs := []usage.Record{
		// A completed block of 1,000 tokens, one of 400, then the active
		// one of 900.
		synth("a", base, "", 500, 0), synth("b", base.Add(time.Hour), "", 500, 0),
		synth("c", base.Add(24*time.Hour), "", 400, 0),
		synth("d", base.Add(48*time.Hour), "", 300, 0), synth("e", base.Add(49*time.Hour), "", 600, 0),
	}
	now := base.Add(50 * time.Hour)
	st := synthStore(t, recs)
	h := newServer(t, func(o *options) {
		o.Store = st
		o.Now = func() time.Time { return now }
		o.Limits = mustLimits(t, "", -1, 0)
	}).Handler()
	var got blockJSON
	get(t, h, "/api/v1/blocks/active", &got)
	if got.LimitStatus == nil || got.LimitStatus.TokenLimit != 1000 || got.LimitStatus.Status != usage.LimitWarning ||
		!near(got.LimitStatus.TokenRatio, 0.9) {
		t.Errorf("limit_status = %+v, want 90%% of the largest completed block (1000), warning", got.LimitStatus)
	}
	var all blocksJSON
	get(t, h, "/api/v1/blocks", &all)
	if all.Limits.TokenLimit != 1000 || !all.Limits.TokenLimitMax {
		t.Errorf("limits = %+v, want token_limit 1000 from max", all.Limits)
	}
}

func TestBlocksRateLimitsAndUsers(t *testing.T) {
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	st := synthStore(t, []usage.Record{
		synth("a1", base, "alice", 100, 10), synth("b1", base.Add(time.Minute), "bob", 2000, 20),
		synth("a2", base.Add(2*time.Hour), "alice", 300, 30),
	})
	sample := usage.RateLimitSample{Time: base.Add(3 * time.Hour), SessionID: "s",
		FiveHour: &usage.RateLimitWindow{UsedPercentage: 42, ResetsAt: base.Add(5 * time.Hour)}}
	if err := st.SaveRateLimits(context.Background(), sample); err != nil {
		t.Fatal(err)
	}
	now := base.Add(3 * time.Hour)
	h := newServer(t, func(o *options) {
		o.Store = st
		o.Now = func() time.Time { return now }
	}).Handler()
	var got blocksJSON
	get(t, h, "/api/v1/blocks?user=alice", &got)
	if len(got.Blocks) != 1 || got.Blocks[0].TotalTokens != 440 || got.Blocks[0].Entries != 2 {
		t.Fatalf("alice's blocks = %+v, want one of 440 tokens in 2 entries", got.Blocks)
	}
	if got.Weekly.TotalTokens != 440 {
		t.Errorf("alice's weekly total = %d, want 440", got.Weekly.TotalTokens)
	}
	if got.RateLimits == nil || got.RateLimits.FiveHour == nil || got.RateLimits.FiveHour.UsedPercentage != 42 {
		t.Errorf("rate_limits = %+v, want the saved sample", got.RateLimits)
	}
	var act blockJSON
	get(t, h, "/api/v1/blocks/active?user=bob", &act)
	if act.TotalTokens != 2020 || act.BurnRate != nil {
		t.Errorf("bob's active block = %d tokens, burn rate %v; want 2020 and none (one request)", act.TotalTokens, act.BurnRate)
	}
	// Claude's own 42% is the status of the active block in the unfiltered
	// view; the sample has no user, so bob's view keeps none.
	var mine blockJSON
	get(t, h, "/api/v1/blocks/active", &mine)
	if s := mine.LimitStatus; s == nil || s.Source != usage.LimitSourceClaude || !near(s.Ratio, 0.42) || s.Status != usage.LimitOK {
		t.Errorf("active limit_status = %+v, want Claude's 42%%, ok", mine.LimitStatus)
	}
	if act.LimitStatus != nil {
		t.Errorf("bob's active limit_status = %+v, want none", act.LimitStatus)
	}
	if r := get(t, h, "/api/v1/blocks/active?user=carol", nil); string(r.Env.Data) != "null" {
		t.Errorf("carol's active block = %s, want null", r.Env.Data)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func TestNotifyBlocks(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 1, 5, 8, 10, 0, 0, time.UTC)
	st := synthStore(t, nil)
	clk := &clock{t: base.Add(time.Minute)}
	l := newLive(t, liveConfig{opts: func(o *server.Options) {
		o.Store = st
		o.Now = clk.now
		o.Limits = mustLimits(t, "", 1000, 0)
	}})
	c, _ := mustDial(t, l.ws)
	add := func(id string, at time.Time, tokens int64) {
		t.Helper()
		if err := st.Apply(ctx, usage.Batch{Records: []usage.Record{synth(id, at, "", tokens, 0)}}); err != nil {
			t.Fatal(err)
		}
	}
	notify := func() {
		t.Helper()
		if err := l.srv.NotifyBlocks(ctx); err != nil {
			t.Fatalf("NotifyBlocks: %v", err)
		}
	}
	// next reads the next message; a ping answered by pong proves that
	// nothing else was queued before it.
	next := func() wsMsg {
		t.Helper()
		send(t, c, `{"type":"ping"}`)
		m := readMsg(t, c)
		if m.Type != server.MsgPong {
			if p := readMsg(t, c); p.Type != server.MsgPong {
				t.Fatalf("after %s came %s, want the pong", m.Type, p.Type)
			}
		}
		return m
	}
	expect := func(what string, types ...string) []wsMsg {
		t.Helper()
		var got []wsMsg
		for {
			m := readMsg(t, c)
			if m.Type == server.MsgHeartbeat {
				continue
			}
			got = append(got, m)
			if len(got) == len(types) {
				break
			}
		}
		for i, m := range got {
			if m.Type != types[i] {
				t.Fatalf("%s: message %d is %s, want %s", what, i, m.Type, types[i])
			}
		}
		if m := next(); m.Type != server.MsgPong {
			t.Fatalf("%s: unexpected extra %s message: %s", what, m.Type, m.Data)
		}
		return got
	}

	notify() // nothing stored: no block, nothing to say
	if m := next(); m.Type != server.MsgPong {
		t.Fatalf("empty store sent %s", m.Type)
	}

	add("1", base, 500)
	notify()
	msgs := expect("first record", server.MsgBlockUpdate)
	b := decode[blockJSON](t, msgs[0].Data)
	if !b.IsActive || b.TotalTokens != 500 || b.LimitStatus == nil || b.LimitStatus.Status != usage.LimitOK {
		t.Fatalf("block_update = %s, want the active block of 500 tokens, ok", msgs[0].Data)
	}

	notify() // unchanged: silent
	if m := next(); m.Type != server.MsgPong {
		t.Fatalf("unchanged block sent %s", m.Type)
	}

	add("2", base.Add(30*time.Minute), 350) // 85%
	clk.set(base.Add(31 * time.Minute))
	notify()
	msgs = expect("crossing 80%", server.MsgBlockUpdate, server.MsgAlert)
	alert := decode[server.BlockAlert](t, msgs[1].Data)
	if alert.Level != usage.LimitWarning || alert.Threshold != 0.8 || !near(alert.Ratio, 0.85) ||
		alert.BlockID != b.ID || alert.TokenLimit != 1000 || !strings.Contains(alert.Message, "85%") {
		t.Errorf("alert = %+v, want a warning at 85%% of 1000 tokens for %s", alert, b.ID)
	}

	add("3", base.Add(40*time.Minute), 50) // 90%: an update, no new alert
	notify()
	expect("still warning", server.MsgBlockUpdate)

	add("4", base.Add(50*time.Minute), 200) // 110%
	notify()
	msgs = expect("crossing 100%", server.MsgBlockUpdate, server.MsgAlert)
	if a := decode[server.BlockAlert](t, msgs[1].Data); a.Level != usage.LimitExceeded || a.Threshold != 1 {
		t.Errorf("alert = %+v, want exceeded at 100%%", a)
	}
	add("5", base.Add(55*time.Minute), 10)
	notify()
	expect("still exceeded", server.MsgBlockUpdate)

	// The block ends: one update without a block.
	clk.set(base.Add(5 * time.Hour))
	notify()
	msgs = expect("block ended", server.MsgBlockUpdate)
	if len(msgs[0].Data) != 0 && string(msgs[0].Data) != "null" {
		t.Errorf("block_update after the end carries %s, want no block", msgs[0].Data)
	}
	notify()
	if m := next(); m.Type != server.MsgPong {
		t.Fatalf("no block, twice: sent %s", m.Type)
	}

	// A new block that jumps past 100% at once gets one alert, exceeded.
	later := base.Add(10 * time.Hour)
	add("6", later, 1500)
	clk.set(later.Add(time.Minute))
	notify()
	msgs = expect("new block over the limit", server.MsgBlockUpdate, server.MsgAlert)
	if a := decode[server.BlockAlert](t, msgs[1].Data); a.Level != usage.LimitExceeded || a.BlockID == b.ID {
		t.Errorf("alert = %+v, want exceeded for the new block", a)
	}
}

// rateLimitFailStore keeps rate limits, but cannot read them.
type rateLimitFailStore struct{ usage.Store }

func (rateLimitFailStore) SaveRateLimits(context.Context, usage.RateLimitSample) error {
	return errBroken
}
func (rateLimitFailStore) LatestRateLimits(context.Context) (usage.RateLimitSample, error) {
	return usage.RateLimitSample{}, errBroken
}

func TestBlocksStoreFailures(t *testing.T) {
	for name, st := range map[string]usage.Store{
		"records":     failingStore{fixture.store},
		"rate limits": rateLimitFailStore{fixture.store},
	} {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, func(o *options) {
				o.Store = st
				o.Now = func() time.Time { return blockNow }
				o.Limits = mustLimits(t, "", -1, 0)
			})
			r := do(t, s.Handler(), http.MethodGet, "/api/v1/blocks", nil)
			wantError(t, r, http.StatusInternalServerError, "INTERNAL_ERROR")
			if strings.Contains(string(r.Body), "secret") {
				t.Errorf("error body reveals the cause: %s", r.Body)
			}
		})
	}
	s := newServer(t, func(o *options) {
		o.Store = failingStore{fixture.store}
		o.Now = func() time.Time { return blockNow }
		o.WebSocket = &server.HubOptions{}
	})
	defer s.Hub().Close()
	r := do(t, s.Handler(), http.MethodGet, "/api/v1/blocks/active", nil)
	wantError(t, r, http.StatusInternalServerError, "INTERNAL_ERROR")
	if err := s.NotifyBlocks(context.Background()); !errors.Is(err, errBroken) {
		t.Errorf("NotifyBlocks on a broken store = %v, want the store's error", err)
	}
	// The "max" limit reads all history, which fails too.
	st := &onlyRecentStore{Store: fixture.store, since: blockNow.Add(-usage.RollingWeek)}
	s = newServer(t, func(o *options) {
		o.Store = st
		o.Now = func() time.Time { return blockNow }
		o.Limits = mustLimits(t, "", -1, 0)
	})
	r = do(t, s.Handler(), http.MethodGet, "/api/v1/blocks/active", nil)
	wantError(t, r, http.StatusInternalServerError, "INTERNAL_ERROR")
}

// onlyRecentStore fails reads of records older than since.
type onlyRecentStore struct {
	usage.Store
	since time.Time
}

func (s *onlyRecentStore) Records(ctx context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	if f.Since.Before(s.since) {
		return nil, errBroken
	}
	return s.Store.Records(ctx, f, p)
}
