package usage

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// flatPricer charges $1 per million tokens of any kind and knows every
// model but "mystery".
type flatPricer struct{}

func (*flatPricer) Price(r *Record) (Money, bool) {
	if r.Model == "mystery" {
		return 0, false
	}
	return Money(r.Total()) * MoneyPerUSD / 1e6, true
}

func (*flatPricer) Priced(model string) bool { return model != "mystery" }

func (*flatPricer) Fingerprint() string { return "flat" }

// priced sets each record's cost as a store would.
func priced(records []Record, p Pricer) []Record {
	out := slices.Clone(records)
	for i := range out {
		out[i].Cost, _ = p.Price(&out[i])
	}
	return out
}

// pricedBlocks is Blocks over records priced by p.
func pricedBlocks(records []Record, p Pricer, now time.Time) []Block {
	return Blocks(priced(records, p), p, now)
}

// bt is the day most block tests run on, 00:00 UTC.
var bt = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// at returns bt plus h:m:s.
func at(h, m, s int) time.Time {
	return bt.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
}

func rec(ts time.Time, model string, input, output int64) Record {
	return Record{Key: ts.String() + model, Timestamp: ts, Model: model, Tokens: Tokens{Input: input, Output: output}}
}

// shape is the part of a block that the algorithm tests compare.
type shape struct {
	Start, End, Last time.Time
	Gap, Active      bool
	Entries, Total   int64
}

func shapes(blocks []Block) []shape {
	out := make([]shape, len(blocks))
	for i, b := range blocks {
		out[i] = shape{b.StartTime, b.EndTime, b.ActualEndTime, b.IsGap, b.IsActive, b.Entries, b.TotalTokens}
	}
	return out
}

func TestBlocksAlgorithm(t *testing.T) {
	later := bt.AddDate(0, 1, 0) // long after every test record: nothing is active
	tests := []struct {
		name    string
		records []Record
		now     time.Time
		want    []shape
	}{
		{
			name: "one block floored to the hour",
			records: []Record{
				rec(at(10, 20, 0), "a", 100, 10),
				rec(at(11, 0, 0), "a", 200, 20),
				rec(at(14, 59, 59), "a", 300, 30),
			},
			now:  later,
			want: []shape{{Start: at(10, 0, 0), End: at(15, 0, 0), Last: at(14, 59, 59), Entries: 3, Total: 660}},
		},
		{
			name: "a record exactly 5 h after the start stays in the block",
			records: []Record{
				rec(at(10, 0, 0), "a", 1, 0),
				rec(at(15, 0, 0), "a", 2, 0),
			},
			now:  later,
			want: []shape{{Start: at(10, 0, 0), End: at(15, 0, 0), Last: at(15, 0, 0), Entries: 2, Total: 3}},
		},
		{
			name: "a record just over 5 h after the start opens a block without a gap",
			records: []Record{
				rec(at(10, 0, 0), "a", 1, 0),
				rec(at(12, 0, 0), "a", 1, 0),
				rec(at(15, 0, 0).Add(time.Millisecond), "a", 2, 0),
			},
			now: later,
			want: []shape{
				{Start: at(10, 0, 0), End: at(15, 0, 0), Last: at(12, 0, 0), Entries: 2, Total: 2},
				{Start: at(15, 0, 0), End: at(20, 0, 0), Last: at(15, 0, 0).Add(time.Millisecond), Entries: 1, Total: 2},
			},
		},
		{
			name: "the start rule splits a steady session",
			records: []Record{
				rec(at(10, 30, 0), "a", 1, 0),
				rec(at(13, 0, 0), "a", 1, 0),
				rec(at(15, 30, 0), "a", 1, 0), // 5.5 h after 10:00, 2.5 h after the previous
			},
			now: later,
			want: []shape{
				{Start: at(10, 0, 0), End: at(15, 0, 0), Last: at(13, 0, 0), Entries: 2, Total: 2},
				{Start: at(15, 0, 0), End: at(20, 0, 0), Last: at(15, 30, 0), Entries: 1, Total: 1},
			},
		},
		{
			name: "a silence over 5 h is a gap block",
			records: []Record{
				rec(at(10, 15, 0), "a", 1, 0),
				rec(at(20, 45, 0), "a", 2, 0),
			},
			now: later,
			want: []shape{
				{Start: at(10, 0, 0), End: at(15, 0, 0), Last: at(10, 15, 0), Entries: 1, Total: 1},
				// The gap ends where the next block starts, not at its
				// first record (ccusage's 20:45), so it never overlaps it.
				{Start: at(15, 15, 0), End: at(20, 0, 0), Gap: true},
				{Start: at(20, 0, 0), End: at(25, 0, 0), Last: at(20, 45, 0), Entries: 1, Total: 2},
			},
		},
		{
			// ccusage shows a gap 00:16-00:33 here, inside the block that
			// starts at 00:00; the silence is all covered by the two
			// blocks, so there is no gap row.
			name: "a gap never falls inside the next block",
			records: []Record{
				rec(at(19, 16, 0), "a", 1, 0),
				rec(at(24, 33, 0), "a", 2, 0),
			},
			now: later,
			want: []shape{
				{Start: at(19, 0, 0), End: at(24, 0, 0), Last: at(19, 16, 0), Entries: 1, Total: 1},
				{Start: at(24, 0, 0), End: at(29, 0, 0), Last: at(24, 33, 0), Entries: 1, Total: 2},
			},
		},
		{
			name: "a silence of exactly 5 h is no gap",
			records: []Record{
				rec(at(10, 0, 0), "a", 1, 0),
				rec(at(15, 0, 0), "a", 2, 0),
				rec(at(20, 0, 0), "a", 4, 0),
			},
			now: later,
			want: []shape{
				{Start: at(10, 0, 0), End: at(15, 0, 0), Last: at(15, 0, 0), Entries: 2, Total: 3},
				{Start: at(20, 0, 0), End: at(25, 0, 0), Last: at(20, 0, 0), Entries: 1, Total: 4},
			},
		},
		{
			name: "active while now is before the end and the last record is recent",
			records: []Record{
				rec(at(10, 5, 0), "a", 1, 0),
				rec(at(11, 0, 0), "a", 1, 0),
			},
			now:  at(14, 59, 0),
			want: []shape{{Start: at(10, 0, 0), End: at(15, 0, 0), Last: at(11, 0, 0), Active: true, Entries: 2, Total: 2}},
		},
		{
			name:    "inactive once the block has ended",
			records: []Record{rec(at(10, 5, 0), "a", 1, 0), rec(at(14, 0, 0), "a", 1, 0)},
			now:     at(15, 0, 0),
			want:    []shape{{Start: at(10, 0, 0), End: at(15, 0, 0), Last: at(14, 0, 0), Entries: 2, Total: 2}},
		},
		{
			name:    "no records",
			records: nil,
			now:     later,
			want:    []shape{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shapes(pricedBlocks(tt.records, &flatPricer{}, tt.now))
			if !slices.Equal(got, tt.want) {
				t.Errorf("pricedBlocks() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestBlocksOutOfOrder(t *testing.T) {
	var sorted []Record
	for i := range 40 {
		// Bursts of activity with silences between them, some over 5 h.
		ts := bt.Add(time.Duration(i/8)*9*time.Hour + time.Duration(i%8)*23*time.Minute)
		sorted = append(sorted, rec(ts, []string{"a", "b"}[i%2], int64(i+1), int64(i)))
	}
	want := pricedBlocks(sorted, &flatPricer{}, bt.AddDate(0, 1, 0))
	if n := len(want); n != 9 { // 5 bursts and 4 gaps
		t.Fatalf("sorted input gave %d blocks, want 9", n)
	}
	shuffled := slices.Clone(sorted)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	before := slices.Clone(shuffled)
	got := pricedBlocks(shuffled, &flatPricer{}, bt.AddDate(0, 1, 0))
	if !slices.Equal(shapes(got), shapes(want)) {
		t.Errorf("pricedBlocks(shuffled) =\n%+v\nwant\n%+v", shapes(got), shapes(want))
	}
	for i := range got {
		if !slices.Equal(got[i].Models, want[i].Models) || got[i].Tokens != want[i].Tokens {
			t.Errorf("block %d: models %v tokens %+v, want %v %+v", i, got[i].Models, got[i].Tokens, want[i].Models, want[i].Tokens)
		}
	}
	for i := range before {
		if shuffled[i].Key != before[i].Key {
			t.Fatalf("Blocks reordered its input at %d", i)
		}
	}
}

// TestBlocksFloorIsUTC checks that a block starts on a UTC hour whatever the
// records' zone: in Asia/Kolkata (UTC+5:30) that is half past a local hour,
// and across a DST change in New York a block still lasts 5 real hours
// while its local wall-clock span is 6.
func TestBlocksFloorIsUTC(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	r := rec(time.Date(2026, 3, 2, 10, 45, 0, 0, kolkata), "a", 1, 0) // 05:15 UTC
	b := pricedBlocks([]Record{r}, &flatPricer{}, bt.AddDate(0, 1, 0))[0]
	if want := time.Date(2026, 3, 2, 5, 0, 0, 0, time.UTC); !b.StartTime.Equal(want) {
		t.Errorf("start = %v, want %v", b.StartTime, want)
	}
	if got := b.StartTime.In(kolkata).Format("15:04"); got != "10:30" {
		t.Errorf("local start = %s, want 10:30", got)
	}
	if b.ID != "2026-03-02T05:00:00Z" {
		t.Errorf("ID = %q, want 2026-03-02T05:00:00Z", b.ID)
	}

	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	// 2026-03-08 02:00 EST becomes 03:00 EDT. 00:30 EST is 05:30 UTC.
	r = rec(time.Date(2026, 3, 8, 0, 30, 0, 0, ny), "a", 1, 0)
	b = pricedBlocks([]Record{r}, &flatPricer{}, bt.AddDate(0, 1, 0))[0]
	if d := b.EndTime.Sub(b.StartTime); d != BlockDuration {
		t.Errorf("block lasts %v, want %v", d, BlockDuration)
	}
	start, end := b.StartTime.In(ny), b.EndTime.In(ny)
	if got := start.Format("15:04 MST") + " - " + end.Format("15:04 MST"); got != "00:00 EST - 06:00 EDT" {
		t.Errorf("local span = %s, want 00:00 EST - 06:00 EDT", got)
	}
}

func TestBlocksFigures(t *testing.T) {
	p := &flatPricer{}
	records := []Record{
		{Timestamp: at(10, 0, 0), Model: "b", Tokens: Tokens{Input: 1000, Output: 500, CacheCreation5m: 100, CacheCreation1h: 50, CacheRead: 350, WebSearchRequests: 1}},
		{Timestamp: at(10, 30, 0), Model: "mystery", Tokens: Tokens{Input: 1000}},
		// Long context on its own (prompt > 200k), unlike the block's sum.
		{Timestamp: at(11, 0, 0), Model: "a", Tokens: Tokens{Input: 150_000, CacheRead: 60_000, Output: 1000}},
		{Timestamp: at(11, 0, 0), Model: "b", Tokens: Tokens{Input: 150_000}},
	}
	blocks := pricedBlocks(records, p, at(12, 0, 0))
	if len(blocks) != 1 {
		t.Fatalf("got %d blocks, want 1", len(blocks))
	}
	b := blocks[0]
	want := Tokens{Input: 302_000, Output: 1500, CacheCreation5m: 100, CacheCreation1h: 50, CacheRead: 60_350, WebSearchRequests: 1}
	if b.Tokens != want {
		t.Errorf("tokens = %+v, want %+v", b.Tokens, want)
	}
	if b.CacheCreationTokens != 150 || b.TotalTokens != 364_000 || b.Entries != 4 {
		t.Errorf("cache_creation, total, entries = %d, %d, %d; want 150, 364000, 4", b.CacheCreationTokens, b.TotalTokens, b.Entries)
	}
	// 2,000 + 211,000*2 + 150,000 tokens at $1/M; mystery is unpriced.
	if wantCost := Money(2000+211_000+150_000) * MoneyPerUSD / 1e6; b.CostUSD != wantCost {
		t.Errorf("cost = %v, want %v", b.CostUSD, wantCost)
	}
	if !slices.Equal(b.Models, []string{"b", "mystery", "a"}) {
		t.Errorf("models = %v, want [b mystery a] (order of first use)", b.Models)
	}
	if !slices.Equal(b.UnpricedModels, []string{"mystery"}) || !slices.Equal(BlocksUnpriced(blocks), []string{"mystery"}) {
		t.Errorf("unpriced = %v / %v, want [mystery]", b.UnpricedModels, BlocksUnpriced(blocks))
	}
	if !b.FirstTime.Equal(at(10, 0, 0)) || !b.ActualEndTime.Equal(at(11, 0, 0)) {
		t.Errorf("first, last = %v, %v; want 10:00, 11:00", b.FirstTime, b.ActualEndTime)
	}
}

func TestBurnRateAndProjection(t *testing.T) {
	// 6,000 tokens ($0.006 at $1/M) over the 60 minutes between the first
	// and last record; now is 10:30, so 210 minutes remain until 14:00.
	records := []Record{
		rec(at(9, 0, 0), "a", 1000, 0),
		rec(at(9, 30, 0), "a", 2000, 0),
		rec(at(10, 0, 0), "a", 3000, 0),
	}
	b := pricedBlocks(records, &flatPricer{}, at(10, 30, 0))[0]
	if !b.IsActive {
		t.Fatal("block is not active")
	}
	if b.BurnRate == nil {
		t.Fatal("burn rate is nil")
	}
	if b.BurnRate.TokensPerMinute != 100 || math.Abs(b.BurnRate.CostPerHour-0.006) > 1e-12 {
		t.Errorf("burn rate = %+v, want 100 tokens/min and $0.006/h", *b.BurnRate)
	}
	p := b.Projection
	if p == nil {
		t.Fatal("projection is nil")
	}
	if p.RemainingMinutes != 210 || p.TotalTokens != 6000+100*210 || math.Abs(p.CostUSD.USD()-(0.006+0.006*3.5)) > 1e-12 {
		t.Errorf("projection = %+v, want 210 min, 27000 tokens, $0.027", *p)
	}

	// The same block once over: a burn rate, no projection.
	if old := pricedBlocks(records, &flatPricer{}, at(15, 0, 0))[0]; old.BurnRate == nil || old.Projection != nil {
		t.Errorf("ended block: burn rate %v, projection %v; want a rate and no projection", old.BurnRate, old.Projection)
	}
	// A single record has no duration, hence no rate and no projection.
	one := pricedBlocks(records[:1], &flatPricer{}, at(9, 10, 0))[0]
	if !one.IsActive || one.BurnRate != nil || one.Projection != nil {
		t.Errorf("single record: active %v, burn rate %v, projection %v; want active, nil, nil", one.IsActive, one.BurnRate, one.Projection)
	}
}

func TestBlockJSONShape(t *testing.T) {
	blocks := pricedBlocks([]Record{rec(at(1, 0, 0), "a", 1, 1), rec(at(9, 0, 0), "a", 1, 1), rec(at(9, 1, 0), "a", 1, 1)}, &flatPricer{}, at(9, 2, 0))
	Limits{Tokens: 100}.Apply(blocks, at(9, 2, 0))
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d blocks, want 3", len(got))
	}
	for _, key := range []string{"start_time", "end_time", "actual_end_time", "is_active", "is_gap", "entries",
		"input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "total_tokens",
		"cost_usd", "models", "burn_rate", "projection", "limit_status"} {
		if _, ok := got[2][key]; !ok {
			t.Errorf("active block JSON lacks %q: %s", key, b)
		}
	}
	gap := got[1]
	if gap["is_gap"] != true || gap["burn_rate"] != nil || gap["limit_status"] != nil || gap["actual_end_time"] != nil {
		t.Errorf("gap JSON = %v, want is_gap, null burn_rate and limit_status, no actual_end_time", gap)
	}
	if ls := got[2]["limit_status"].(map[string]any); ls["status"] != LimitOK || ls["token_limit"] != 100.0 {
		t.Errorf("limit_status = %v, want ok against 100", ls)
	}
}

func TestNewLimits(t *testing.T) {
	tests := []struct {
		plan    string
		tokens  int64
		cost    float64
		want    Limits
		wantErr string
	}{
		{plan: "", want: Limits{}},
		// A plan's token figure is for reference; its cost figure is an
		// estimate until COST_LIMIT replaces it.
		{plan: "pro", want: Limits{Plan: PlanPro, PlanTokens: 19_000, CostUSD: 18, Estimate: true}},
		{plan: " MAX5 ", want: Limits{Plan: PlanMax5, PlanTokens: 88_000, CostUSD: 35, Estimate: true}},
		{plan: "max20", want: Limits{Plan: PlanMax20, PlanTokens: 220_000, CostUSD: 140, Estimate: true}},
		{plan: "max20", tokens: 500_000, want: Limits{Plan: PlanMax20, Tokens: 500_000, PlanTokens: 220_000, CostUSD: 140, Estimate: true}},
		{plan: "pro", tokens: -1, cost: 5, want: Limits{Plan: PlanPro, TokensFromMax: true, PlanTokens: 19_000, CostUSD: 5}},
		{plan: "custom", tokens: 1000, want: Limits{Plan: PlanCustom, Tokens: 1000}},
		{plan: "custom", cost: 12.5, want: Limits{Plan: PlanCustom, CostUSD: 12.5}},
		{plan: "", tokens: -1, want: Limits{TokensFromMax: true}},
		{plan: "custom", wantErr: "PLAN=custom needs TOKEN_LIMIT or COST_LIMIT"},
		{plan: "team", wantErr: `PLAN: "team" is not one of`},
		{plan: "", cost: -1, wantErr: "COST_LIMIT"},
		{plan: "", cost: math.NaN(), wantErr: "COST_LIMIT"},
	}
	for _, tt := range tests {
		got, err := NewLimits(tt.plan, tt.tokens, tt.cost)
		if tt.wantErr != "" {
			if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tt.wantErr) {
				t.Errorf("NewLimits(%q, %d, %v) error = %v, want EINVALID containing %q", tt.plan, tt.tokens, tt.cost, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NewLimits(%q, %d, %v) = %+v, %v; want %+v", tt.plan, tt.tokens, tt.cost, got, err, tt.want)
		}
		if got.IsZero() != (tt.want == Limits{}) {
			t.Errorf("NewLimits(%q, %d, %v).IsZero() = %v", tt.plan, tt.tokens, tt.cost, got.IsZero())
		}
	}
}

func TestLimitStatus(t *testing.T) {
	now := at(12, 0, 0)
	block := func(total int64, cost float64) *Block {
		return &Block{TotalTokens: total, LimitTokens: total, CostUSD: Money(cost * MoneyPerUSD), EndTime: at(15, 0, 0)}
	}
	tests := []struct {
		name   string
		limits Limits
		b      *Block
		want   string
	}{
		{"under", Limits{Tokens: 1000}, block(799, 0), LimitOK},
		{"at 80% is a warning", Limits{Tokens: 1000}, block(800, 0), LimitWarning},
		{"just under the limit", Limits{Tokens: 1000}, block(999, 0), LimitWarning},
		{"at the limit is exceeded", Limits{Tokens: 1000}, block(1000, 0), LimitExceeded},
		{"cost alone", Limits{CostUSD: 10}, block(1e9, 8), LimitWarning},
		{"worse of the two", Limits{Tokens: 1000, CostUSD: 10}, block(100, 12), LimitExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.limits.Status(tt.b, now)
			if s == nil || s.Status != tt.want {
				t.Fatalf("Status() = %+v, want %s", s, tt.want)
			}
		})
	}
	// A $2.64 block whose 2.17M tokens are almost all cache reads is 7.5%
	// of max5's $35, and only its input, output and cache writes count
	// toward a token limit.
	big := &Block{Tokens: Tokens{Input: 2000, Output: 30_000, CacheCreation1h: 40_000, CacheRead: 2_100_000}, CostUSD: 264 * MoneyPerUSD / 100, EndTime: at(15, 0, 0)}
	big.TotalTokens, big.LimitTokens = big.Tokens.Total(), big.Tokens.LimitTokens()
	max5, err := NewLimits("max5", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := max5.Status(big, now); s == nil || s.Status != LimitOK || s.Source != LimitSourceEstimate || math.Abs(s.Ratio-2.64/35) > 1e-9 || s.TokenRatio != 0 {
		t.Errorf("max5 status of a $2.64 block = %+v, want ok, an estimate of 7.5%%, no token share", s)
	}
	own, err := NewLimits("", 100_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := own.Status(big, now); s == nil || s.TokenRatio != 0.72 || s.Status != LimitOK || s.Source != LimitSourceConfigured {
		t.Errorf("TOKEN_LIMIT=100000 status = %+v, want 72%% (72,000 tokens without cache reads), ok, configured", s)
	}
	if s := (Limits{}).Status(block(1e9, 1e9), now); s != nil {
		t.Errorf("Status without limits = %+v, want nil", s)
	}
	if s := (Limits{Tokens: 1}).Status(&Block{IsGap: true}, now); s != nil {
		t.Errorf("Status of a gap = %+v, want nil", s)
	}
}

func TestApplyRateLimits(t *testing.T) {
	records := []Record{rec(at(9, 10, 0), "a", 3000, 0), rec(at(10, 0, 0), "a", 3000, 0)}
	now := at(10, 30, 0)
	sample := func(received time.Time, pct float64, resets time.Time) *RateLimitSample {
		return &RateLimitSample{Time: received, FiveHour: &RateLimitWindow{UsedPercentage: pct, ResetsAt: resets}}
	}
	tests := []struct {
		name       string
		rl         *RateLimitSample
		wantSource string
		wantStatus string
		wantRatio  float64
	}{
		{"Claude's number wins", sample(at(10, 5, 0), 85, at(14, 0, 0)), LimitSourceClaude, LimitWarning, 0.85},
		{"even below the estimate", sample(at(10, 5, 0), 3, time.Time{}), LimitSourceClaude, LimitOK, 0.03},
		{"received before the block", sample(at(8, 0, 0), 85, at(14, 0, 0)), LimitSourceConfigured, LimitExceeded, 6000.0 / 5000},
		{"its window has reset", sample(at(9, 30, 0), 85, at(10, 0, 0)), LimitSourceConfigured, LimitExceeded, 6000.0 / 5000},
		{"no five-hour window", &RateLimitSample{Time: at(10, 5, 0), SevenDay: &RateLimitWindow{UsedPercentage: 50}}, LimitSourceConfigured, LimitExceeded, 6000.0 / 5000},
		{"no sample", nil, LimitSourceConfigured, LimitExceeded, 6000.0 / 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks := Blocks(records, &flatPricer{}, now)
			Limits{Tokens: 5000}.Apply(blocks, now)
			applied := ApplyRateLimits(blocks, tt.rl, now)
			s := blocks[0].LimitStatus
			if applied != (tt.wantSource == LimitSourceClaude) || s == nil || s.Source != tt.wantSource || s.Status != tt.wantStatus || math.Abs(s.Ratio-tt.wantRatio) > 1e-9 {
				t.Fatalf("applied %v, status %+v; want source %s, %s at %v", applied, s, tt.wantSource, tt.wantStatus, tt.wantRatio)
			}
			if applied && (s.TokenRatio != 6000.0/5000 || s.ProjectedStatus != "" || !s.LimitAt.IsZero()) {
				t.Errorf("Claude's status %+v: want the computed token share kept, no projection against it", s)
			}
		})
	}
	// Without any configured limit, Claude's number still gives a status.
	blocks := Blocks(records, &flatPricer{}, now)
	if !ApplyRateLimits(blocks, sample(at(10, 5, 0), 120, time.Time{}), now) || blocks[0].LimitStatus.Status != LimitExceeded {
		t.Errorf("status without limits = %+v, want exceeded from Claude's 120%%", blocks[0].LimitStatus)
	}
	// A completed block never takes the latest sample.
	done := Blocks(records, &flatPricer{}, at(20, 0, 0))
	if ApplyRateLimits(done, sample(at(10, 5, 0), 50, time.Time{}), at(20, 0, 0)) || done[0].LimitStatus != nil {
		t.Errorf("a completed block took Claude's sample: %+v", done[0].LimitStatus)
	}
}

func TestLimitsActiveBlock(t *testing.T) {
	// 100 tokens/min and $0.0001/min from 9:00 to 10:00; now 10:30 and the
	// block ends at 14:00 with 6,000 tokens so far, 27,000 projected.
	records := []Record{rec(at(9, 0, 0), "a", 3000, 0), rec(at(10, 0, 0), "a", 3000, 0)}
	now := at(10, 30, 0)
	tests := []struct {
		name          string
		limits        Limits
		wantStatus    string
		wantProjected string
		wantAt        time.Time
	}{
		// 10,000 tokens are reached 40 minutes after now.
		{"token limit reached", Limits{Tokens: 10_000}, LimitOK, LimitExceeded, at(11, 10, 0)},
		// $0.01 is 10,000 tokens at $1/M: also 40 minutes.
		{"cost limit reached", Limits{CostUSD: 0.01}, LimitOK, LimitExceeded, at(11, 10, 0)},
		// The first of two limits counts.
		{"earlier limit counts", Limits{Tokens: 100_000, CostUSD: 0.008}, LimitOK, LimitExceeded, at(10, 50, 0)},
		// 30,000 would be reached at 14:30, after the end; the projected
		// 27,000 is 90% of it.
		{"not reached before the end", Limits{Tokens: 30_000}, LimitOK, LimitWarning, time.Time{}},
		{"already exceeded", Limits{Tokens: 5000}, LimitExceeded, LimitExceeded, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks := pricedBlocks(records, &flatPricer{}, now)
			tt.limits.Apply(blocks, now)
			s := blocks[0].LimitStatus
			if s == nil {
				t.Fatal("no limit status")
			}
			if s.Status != tt.wantStatus || s.ProjectedStatus != tt.wantProjected {
				t.Errorf("status, projected = %s, %s; want %s, %s", s.Status, s.ProjectedStatus, tt.wantStatus, tt.wantProjected)
			}
			if d := s.LimitAt.Sub(tt.wantAt).Abs(); d > time.Millisecond || s.LimitAt.IsZero() != tt.wantAt.IsZero() {
				t.Errorf("limit_at = %v, want %v", s.LimitAt, tt.wantAt)
			}
		})
	}
}

func TestLimitsMax(t *testing.T) {
	records := []Record{
		rec(at(0, 0, 0), "a", 500, 0),
		rec(at(6, 0, 0), "a", 900, 0),  // the largest completed block
		rec(at(12, 0, 0), "a", 700, 0), // completed
		rec(at(18, 0, 0), "a", 5000, 0),
	}
	now := at(19, 0, 0) // the last block is active and does not count
	blocks := pricedBlocks(records, &flatPricer{}, now)
	if got := MaxBlockTokens(blocks); got != 900 {
		t.Errorf("MaxBlockTokens = %d, want 900", got)
	}
	l, err := NewLimits("", -1, 0)
	if err != nil {
		t.Fatal(err)
	}
	resolved := l.Apply(blocks, now)
	if resolved.Tokens != 900 {
		t.Errorf("resolved token limit = %d, want 900", resolved.Tokens)
	}
	active := ActiveBlock(blocks)
	if active == nil || active.TotalTokens != 5000 {
		t.Fatalf("ActiveBlock = %+v, want the 5,000-token block", active)
	}
	if active.LimitStatus == nil || active.LimitStatus.Status != LimitExceeded {
		t.Errorf("active status = %+v, want exceeded against 900", active.LimitStatus)
	}
	if s := blocks[0].LimitStatus; s == nil || s.Status != LimitOK || s.TokenRatio != 500.0/900 {
		t.Errorf("first block status = %+v, want ok at 500/900", s)
	}
	// Nothing completed: the max limit stays unset, so no status.
	only := pricedBlocks(records[3:], &flatPricer{}, now)
	if r := l.Apply(only, now); r.Tokens != 0 || only[0].LimitStatus != nil {
		t.Errorf("max with no completed block: limit %d, status %+v; want 0, nil", r.Tokens, only[0].LimitStatus)
	}
	if ActiveBlock(pricedBlocks(records, &flatPricer{}, at(0, 0, 0).AddDate(1, 0, 0))) != nil {
		t.Error("ActiveBlock found a block a year later")
	}
}

func TestWeeklyTotals(t *testing.T) {
	now := at(12, 0, 0)
	records := []Record{
		rec(now.Add(-RollingWeek-time.Second), "old", 1000, 0), // outside
		rec(now.Add(-RollingWeek), "a", 1, 2),                  // first instant inside
		rec(now.Add(-time.Hour), "b", 10, 20),                  // inside
		{Timestamp: now.Add(-time.Minute), Model: "mystery", Tokens: Tokens{Input: 5, CacheRead: 5}},
		rec(now, "future", 1000, 0), // the window ends before now
	}
	w := WeeklyTotals(priced(records, &flatPricer{}), &flatPricer{}, now)
	if w.Entries != 3 || w.Input != 16 || w.Output != 22 || w.CacheRead != 5 || w.TotalTokens != 43 {
		t.Errorf("weekly = %+v, want 3 entries, 16 in, 22 out, 5 read, 43 total", w)
	}
	if !slices.Equal(w.Models, []string{"a", "b", "mystery"}) || !slices.Equal(w.UnpricedModels, []string{"mystery"}) {
		t.Errorf("models %v, unpriced %v; want [a b mystery], [mystery]", w.Models, w.UnpricedModels)
	}
	if w.CostUSD != 33*MoneyPerUSD/1e6 {
		t.Errorf("cost = %v, want 33e-6", w.CostUSD)
	}
	if !w.Start.Equal(now.Add(-RollingWeek)) || !w.End.Equal(now) {
		t.Errorf("window = %v..%v, want %v..%v", w.Start, w.End, now.Add(-RollingWeek), now)
	}
}

func TestRateLimitSampleIsZero(t *testing.T) {
	if !(RateLimitSample{SessionID: "x"}).IsZero() {
		t.Error("sample without windows is not zero")
	}
	if (RateLimitSample{SevenDay: &RateLimitWindow{}}).IsZero() {
		t.Error("sample with a seven-day window is zero")
	}
}

func TestTrimToBlockStart(t *testing.T) {
	// History: a block at 00:00 whose steady use pushes the next block to
	// 05:00, then a silence, then blocks at 16:00 and 21:00.
	all := []Record{
		rec(at(0, 30, 0), "a", 1, 0),
		rec(at(4, 0, 0), "a", 1, 0),
		rec(at(5, 10, 0), "a", 1, 0),
		rec(at(16, 20, 0), "a", 1, 0), // after a silence of 11 h
		rec(at(20, 0, 0), "a", 1, 0),
		rec(at(21, 30, 0), "a", 1, 0),
	}
	now := at(22, 0, 0)
	whole := pricedBlocks(all, &flatPricer{}, now)
	// A window that starts mid-block, at 04:00: without trimming, its first
	// block would wrongly start at 04:00.
	window := all[1:]
	trimmed := TrimToBlockStart(window)
	if len(trimmed) != 3 || !trimmed[0].Timestamp.Equal(at(16, 20, 0)) {
		t.Fatalf("TrimToBlockStart kept %d records from %v, want 3 from 16:20", len(trimmed), trimmed[0].Timestamp)
	}
	got := pricedBlocks(trimmed, &flatPricer{}, now)
	if want := whole[len(whole)-len(got):]; !slices.Equal(shapes(got), shapes(want)) {
		t.Errorf("blocks of the trimmed window =\n%+v\nwant the tail of the whole history\n%+v", shapes(got), shapes(want))
	}
	if got := TrimToBlockStart(all[:3]); len(got) != 3 {
		t.Errorf("TrimToBlockStart without a silence kept %d of 3 records", len(got))
	}
}
