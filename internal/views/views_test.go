package views_test

import (
	"encoding/json"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/testcorpus"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// corpusRoot is the real Claude Code data the expected accounting covers.
const corpusRoot = "../../../shared/testdata/claude-real"

// blockNow is a time at which the corpus has an active block.
var blockNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// figures is one entry of claude-real.expected.json.
type figures struct {
	Input         int64   `json:"input"`
	Output        int64   `json:"output"`
	CacheCreation int64   `json:"cache_creation"`
	CacheRead     int64   `json:"cache_read"`
	CostUSD       float64 `json:"cost_usd"`
	Entries       int64   `json:"entries"`
}

type expected struct {
	Daily    map[string]figures `json:"daily"`
	Sessions map[string]figures `json:"sessions"`
	Totals   figures            `json:"totals"`
}

// fixture is the corpus ingested by the real ingester into a SQLite
// database, once per test binary.
var fixture struct {
	store    *sqlite.Store
	prices   *pricing.Table
	expected expected
}

func TestMain(m *testing.M) {
	testcorpus.Main(m, "views", corpusRoot, &fixture.expected, func(c *testcorpus.Corpus) error {
		fixture.store, fixture.prices = c.Store, c.Prices
		return nil
	})
}

// newViews returns views of the corpus at now in loc.
func newViews(now time.Time, loc *time.Location) *views.Views {
	return &views.Views{Store: fixture.store, Prices: fixture.prices, Location: loc,
		Now: func() time.Time { return now }, RateLimits: fixture.store}
}

func checkFigures(t *testing.T, what string, got usage.Aggregate, want figures) {
	t.Helper()
	if got.Input != want.Input || got.Output != want.Output || got.CacheCreationTokens != want.CacheCreation ||
		got.CacheRead != want.CacheRead || got.Entries != want.Entries {
		t.Errorf("%s = in %d out %d cw %d cr %d entries %d, want %+v", what,
			got.Input, got.Output, got.CacheCreationTokens, got.CacheRead, got.Entries, want)
	}
	if math.Abs(got.CostUSD.USD()-want.CostUSD) > 1e-9*math.Max(1, want.CostUSD) {
		t.Errorf("%s cost = %s, want %.10f", what, got.CostUSD, want.CostUSD)
	}
}

func TestStatsMatchesExpected(t *testing.T) {
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	st, err := newViews(now, time.UTC).Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkFigures(t, "summary", st.Summary.Aggregate, fixture.expected.Totals)
	checkFigures(t, "today", st.Today.Aggregate, fixture.expected.Daily["2026-03-01"])
	if st.Today.Date != "2026-03-01" || st.Yesterday.Date != "2026-02-28" || st.Timezone != "UTC" {
		t.Errorf("today %s, yesterday %s, zone %s", st.Today.Date, st.Yesterday.Date, st.Timezone)
	}
	if st.Summary.SessionCount == 0 || st.Today.SessionCount == 0 || st.Today.SessionCount > st.Summary.SessionCount {
		t.Errorf("sessions: %d all time, %d today", st.Summary.SessionCount, st.Today.SessionCount)
	}
	if st.UnpricedModels == nil || len(st.UnpricedModels) != 0 {
		t.Errorf("unpriced = %#v, want an empty list", st.UnpricedModels)
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tot, unpriced, err := newViews(now, time.UTC).Totals(t.Context(), usage.Filter{Since: day, Until: day.AddDate(0, 0, 1)})
	if err != nil || len(unpriced) != 0 {
		t.Fatalf("Totals = %v, unpriced %v", err, unpriced)
	}
	checkFigures(t, "Totals of 2026-03-01", tot, fixture.expected.Daily["2026-03-01"])
}

func TestDailyMatchesExpected(t *testing.T) {
	v := newViews(blockNow, time.UTC)
	from := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	d, err := v.Daily(t.Context(), views.Span{From: from, To: to, StartDate: "2025-08-01", EndDate: "2026-03-01"})
	if err != nil {
		t.Fatal(err)
	}
	if want := int(to.Sub(from).Hours() / 24); len(d.Days) != want || d.Summary.TotalDays != want {
		t.Fatalf("days = %d (total_days %d), want %d", len(d.Days), d.Summary.TotalDays, want)
	}
	for _, day := range d.Days {
		checkFigures(t, day.Date, day.Aggregate, fixture.expected.Daily[day.Date])
	}
	if d.Summary.ActiveDays != len(fixture.expected.Daily) {
		t.Errorf("active days = %d, want %d", d.Summary.ActiveDays, len(fixture.expected.Daily))
	}
	checkFigures(t, "summary", d.Summary.Aggregate, fixture.expected.Totals)
}

func TestActiveBlockAgreesWithBlocks(t *testing.T) {
	ctx := t.Context()
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	v := newViews(blockNow, loc)
	limits, err := usage.NewLimits("max5", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	act, err := v.ActiveBlock(ctx, limits)
	if err != nil || act == nil {
		t.Fatalf("ActiveBlock = %v, %v; want a block", act, err)
	}
	if act.StartTime.Location() != loc || act.LimitStatus == nil {
		t.Errorf("active block starts %v, limit status %v; want the views' zone and a status", act.StartTime, act.LimitStatus)
	}
	for _, q := range []views.BlocksQuery{
		{Limits: limits, Active: true},
		{Limits: limits, Lookback: 24 * time.Hour},
	} {
		b, err := v.Blocks(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got := usage.ActiveBlock(b.Blocks)
		if got == nil {
			t.Fatalf("Blocks(%+v) has no active block", q)
		}
		gj, _ := json.Marshal(got)
		aj, _ := json.Marshal(act)
		if string(gj) != string(aj) {
			t.Errorf("Blocks(%+v) active block\n%s\nActiveBlock\n%s", q, gj, aj)
		}
		if b.Weekly.End.Location() != loc || !b.Weekly.End.Equal(blockNow) {
			t.Errorf("weekly ends %v, want %v in the views' zone", b.Weekly.End, blockNow)
		}
	}
	late, err := newViews(blockNow.Add(30*24*time.Hour), loc).ActiveBlock(ctx, limits)
	if err != nil || late != nil {
		t.Errorf("ActiveBlock a month after the corpus = %v, %v; want none", late, err)
	}
}

func TestRateLimitsDecideUnlessPartial(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "rl.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := fixture.store.Records(ctx, usage.Filter{Since: blockNow.Add(-24 * time.Hour)}, usage.Page{})
	if err != nil || len(recs) == 0 {
		t.Fatalf("records = %d, %v", len(recs), err)
	}
	if err := st.Apply(ctx, usage.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	sample := usage.RateLimitSample{Time: blockNow.Add(-time.Minute), FiveHour: &usage.RateLimitWindow{UsedPercentage: 42}}
	if err := st.SaveRateLimits(ctx, sample); err != nil {
		t.Fatal(err)
	}
	for _, partial := range []bool{false, true} {
		v := &views.Views{Store: st, Prices: fixture.prices, Now: func() time.Time { return blockNow }, RateLimits: st, Partial: partial}
		b, err := v.Blocks(ctx, views.BlocksQuery{Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if b.RateLimits == nil || b.RateLimits.FiveHour.UsedPercentage != 42 {
			t.Errorf("partial=%v: rate_limits = %+v, want the sample", partial, b.RateLimits)
		}
		act, err := v.ActiveBlock(ctx, usage.Limits{})
		if err != nil || act == nil || len(b.Blocks) != 1 {
			t.Fatalf("partial=%v: ActiveBlock = %v, %v; %d blocks", partial, act, err, len(b.Blocks))
		}
		for what, ls := range map[string]*usage.LimitStatus{"Blocks": b.Blocks[0].LimitStatus, "ActiveBlock": act.LimitStatus} {
			claude := ls != nil && ls.Source == usage.LimitSourceClaude && ls.Ratio == 0.42
			if claude == partial {
				t.Errorf("partial=%v: %s limit status = %+v; Claude's figure decides only the whole view", partial, what, ls)
			}
		}
	}
}

func TestReportsMatchExpected(t *testing.T) {
	v := newViews(blockNow, time.UTC)
	for name, want := range map[string]map[string]figures{"daily": fixture.expected.Daily, "session": fixture.expected.Sessions} {
		rep, err := v.Report(t.Context(), views.ReportQuery{Kind: views.ReportKinds[name], Sort: "cost", Descending: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Groups) != len(want) {
			t.Errorf("%s: %d rows, want %d", name, len(rep.Groups), len(want))
		}
		for i, g := range rep.Groups {
			checkFigures(t, name+" "+g.Key, g.Aggregate, want[g.Key])
			if name == "session" && i > 0 && g.CostUSD > rep.Groups[i-1].CostUSD {
				t.Errorf("session rows are not by cost, highest first: %s after %s", g.CostUSD, rep.Groups[i-1].CostUSD)
			}
		}
		checkFigures(t, name+" totals", rep.Totals.Aggregate, fixture.expected.Totals)
	}
}

func TestReportArgumentErrorsNameTheField(t *testing.T) {
	v := newViews(blockNow, time.UTC)
	for _, tc := range []struct {
		q    views.ReportQuery
		code string
		want string
	}{
		{views.ReportQuery{Since: "2026-02-30"}, usage.EINVALID, "since: "},
		{views.ReportQuery{Until: "tomorrow"}, usage.EINVALID, "until: "},
		{views.ReportQuery{Since: "2026-03-01", Until: "2026-02-01"}, usage.EINVALID, "since 2026-03-01 is after until 2026-02-01"},
		{views.ReportQuery{Sort: "name"}, usage.EINVALID, "sort: "},
		{views.ReportQuery{Project: "no-such-project-anywhere"}, usage.ENOTFOUND, "project: "},
		{views.ReportQuery{Project: "/"}, usage.EINVALID, "project: "},
	} {
		tc.q.Kind = views.ReportKinds["daily"]
		_, err := v.Report(t.Context(), tc.q)
		if usage.ErrorCode(err) != tc.code || !strings.HasPrefix(usage.ErrorMessage(err), tc.want) {
			t.Errorf("Report(%+v) = %v (%s), want %s %q...", tc.q, err, usage.ErrorCode(err), tc.code, tc.want)
		}
	}
}

func TestExportAddsUpAndNamesBadFields(t *testing.T) {
	v := newViews(blockNow, time.UTC)
	e, err := v.Export(t.Context(), views.ExportQuery{StartDate: "2025-08-01", EndDate: "2026-03-01", Breakdown: "model",
		Fields: []string{"date", "model", "total_tokens", "cost_usd", "entries"}})
	if err != nil {
		t.Fatal(err)
	}
	checkFigures(t, "export totals", e.Summary.Totals, fixture.expected.Totals)
	if got := e.FileName(); got != "ctm-usage-2025-08-01-to-2026-03-01-by-model.csv" {
		t.Errorf("file name = %q", got)
	}
	body, err := e.CSV()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if lines[0] != "date,model,total_tokens,cost_usd,entries" || len(lines)-1 != len(e.Records) || len(e.Records) != e.Summary.RecordCount {
		t.Fatalf("csv has header %q and %d rows; json has %d records (record_count %d)", lines[0], len(lines)-1, len(e.Records), e.Summary.RecordCount)
	}
	var entries int64
	var cost usage.Money
	for i, rec := range e.Records {
		if want := fmt.Sprintf("%s,%s,%d,%s,%d", *rec.Date, *rec.Model, *rec.TotalTokens, *rec.CostUSD, *rec.Entries); lines[i+1] != want {
			t.Errorf("csv line %d = %q, json record says %q", i+1, lines[i+1], want)
		}
		entries += *rec.Entries
		cost = cost.Add(*rec.CostUSD)
	}
	if entries != e.Summary.Totals.Entries || cost != e.Summary.Totals.CostUSD {
		t.Errorf("rows sum to %d entries, %s; totals say %d, %s", entries, cost, e.Summary.Totals.Entries, e.Summary.Totals.CostUSD)
	}
	for q, want := range map[*views.ExportQuery]string{
		{Format: "xml"}:                                  "format: ",
		{Granularity: "week"}:                            "granularity: ",
		{Breakdown: "user"}:                              "breakdown: ",
		{Fields: []string{"date", "x"}}:                  "fields: ",
		{StartDate: "2026-02-30"}:                        "start_date: ",
		{EndDate: "1-1-1"}:                               "end_date: ",
		{StartDate: "0001-01-01", EndDate: "9999-12-31"}: "start_date: the range",
	} {
		if _, err := v.Export(t.Context(), *q); usage.ErrorCode(err) != usage.EINVALID || !strings.HasPrefix(usage.ErrorMessage(err), want) {
			t.Errorf("Export(%+v) = %v, want EINVALID %q...", *q, err, want)
		}
	}
}

func TestSessionsAndProjectsAddUp(t *testing.T) {
	ctx := t.Context()
	v := newViews(blockNow, time.UTC)
	all, err := v.Sessions(ctx, views.SessionsQuery{Sort: "cost", Descending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Sessions) != len(fixture.expected.Sessions) {
		t.Errorf("%d sessions, want %d", len(all.Sessions), len(fixture.expected.Sessions))
	}
	checkFigures(t, "sessions totals", all.Totals, fixture.expected.Totals)
	for i, s := range all.Sessions {
		checkFigures(t, "session "+s.SessionID, s.Aggregate, fixture.expected.Sessions[s.SessionID])
		if i > 0 && s.CostUSD > all.Sessions[i-1].CostUSD {
			t.Errorf("session %s (%s) after %s: not by cost, highest first", s.SessionID, s.CostUSD, all.Sessions[i-1].CostUSD)
		}
	}
	top := all.Sessions[0]
	d, err := v.Session(ctx, top.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	var cost usage.Money
	for _, e := range d.Timeline {
		cost = cost.Add(e.CostUSD)
	}
	if int64(len(d.Timeline)) != top.Entries || cost != top.CostUSD {
		t.Errorf("session %s timeline: %d entries, %s; summary says %d, %s", top.SessionID, len(d.Timeline), cost, top.Entries, top.CostUSD)
	}
	if _, err := v.Session(ctx, "no-such-session"); usage.ErrorCode(err) != usage.ENOTFOUND {
		t.Errorf("Session(missing) = %v, want ENOTFOUND", err)
	}
	if _, err := v.Sessions(ctx, views.SessionsQuery{Sort: "name"}); usage.ErrorCode(err) != usage.EINVALID {
		t.Errorf("Sessions(sort name) = %v, want EINVALID", err)
	}
	p, err := v.Projects(ctx, views.Span{})
	if err != nil {
		t.Fatal(err)
	}
	checkFigures(t, "projects totals", p.Totals, fixture.expected.Totals)
	var entries int64
	for i, pr := range p.Projects {
		entries += pr.Entries
		if pr.SessionCount < 1 || pr.SessionCount > len(all.Sessions) {
			t.Errorf("project %s: %d sessions", pr.Project, pr.SessionCount)
		}
		if i > 0 && pr.LastActivity.After(p.Projects[i-1].LastActivity) {
			t.Errorf("project %s is not in latest-first order", pr.Project)
		}
	}
	if entries != fixture.expected.Totals.Entries {
		t.Errorf("projects hold %d entries, want %d", entries, fixture.expected.Totals.Entries)
	}
}

func TestTrendsFollowTheDays(t *testing.T) {
	v := newViews(blockNow, time.UTC)
	period, sp, err := v.PeriodSpan(t.Context(), "all", "7d")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := v.Trends(t.Context(), views.TrendsQuery{Period: period, Span: sp, Granularity: usage.Day, Metrics: []string{"cost"}})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Series.Tokens != nil || tr.Statistics.Tokens != nil || len(tr.Series.CostUSD) != len(tr.Series.Labels) {
		t.Fatalf("metrics cost only: tokens %v, %d costs for %d labels", tr.Series.Tokens, len(tr.Series.CostUSD), len(tr.Series.Labels))
	}
	var total usage.Money
	for i, label := range tr.Series.Labels {
		want := fixture.expected.Daily[label]
		if tr.Series.Entries[i] != want.Entries || math.Abs(tr.Series.CostUSD[i].USD()-want.CostUSD) > 1e-9 {
			t.Errorf("%s: %d entries, %s; want %+v", label, tr.Series.Entries[i], tr.Series.CostUSD[i], want)
		}
		total = total.Add(tr.Series.CostUSD[i])
	}
	if math.Abs(total.USD()-fixture.expected.Totals.CostUSD) > 1e-9 {
		t.Errorf("cost series sums to %s, want %.10f", total, fixture.expected.Totals.CostUSD)
	}
	long, err := v.DateSpan("2025-01-01", "2026-03-01", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Trends(t.Context(), views.TrendsQuery{Period: "90d", Span: long, Granularity: usage.Hour})
	if usage.ErrorCode(err) != usage.EINVALID || !strings.HasPrefix(usage.ErrorMessage(err), "granularity: hour over period 90d") {
		t.Errorf("hourly trend of all history = %v, want EINVALID naming granularity", err)
	}
}

func TestModelsAndActivityAddUp(t *testing.T) {
	ctx := t.Context()
	v := newViews(blockNow, time.UTC)
	period, sp, err := v.PeriodSpan(ctx, "all", "30d")
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.Models(ctx, period, sp)
	if err != nil {
		t.Fatal(err)
	}
	checkFigures(t, "models totals", m.Totals, fixture.expected.Totals)
	var share float64
	for _, ms := range m.Models {
		share += ms.CostPercentage
		if !ms.Priced || ms.DisplayName == "" {
			t.Errorf("model %s: priced %v, display name %q", ms.Model, ms.Priced, ms.DisplayName)
		}
	}
	if math.Abs(share-100) > 1e-9 {
		t.Errorf("cost shares add up to %v%%", share)
	}
	a, err := v.Activity(ctx, period, sp)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"period", "start_date", "end_date", "timezone", "heatmap", "peak_hours", "summary"} {
		if keys[k] == nil {
			t.Errorf("activity JSON has no %q: %.300s", k, raw)
		}
	}
	var entries int64
	for _, row := range a.Heatmap.Entries {
		for _, n := range row {
			entries += n
		}
	}
	if entries != fixture.expected.Totals.Entries || a.Summary.Entries != entries || a.Summary.MostActiveDay == nil || len(a.PeakHours) == 0 {
		t.Errorf("heatmap holds %d entries, summary %d (day %v, %d peak hours); want %d",
			entries, a.Summary.Entries, a.Summary.MostActiveDay, len(a.PeakHours), fixture.expected.Totals.Entries)
	}
}

// quarterStore hides the store's AggregatePeriods, so that reports roll
// up its quarter hours themselves.
type quarterStore struct{ views.Store }

func TestViewsByPeriodMatchQuarterHours(t *testing.T) {
	// Every view summed from the store's buckets per period (the days,
	// their sessions, the trends, the hours of the week, today and the
	// last week) is the view its quarter hours give, in zones with DST
	// and :30 and :45 offsets, over the whole corpus and a part.
	counted := false
	for _, zone := range []string{"UTC", "Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Skipf("zone %s: %v", zone, err)
		}
		for _, r := range [][2]string{{"2025-08-01", "2026-03-01"}, {"2026-02-10", "2026-02-25"}} {
			v := newViews(blockNow, loc)
			sp, err := v.DateSpan(r[0], r[1], 7)
			if err != nil {
				t.Fatal(err)
			}
			all := func(v *views.Views) (string, views.Daily) {
				d, err := v.Daily(t.Context(), sp)
				if err != nil {
					t.Fatalf("%s %v: Daily: %v", zone, r, err)
				}
				out := []any{d}
				for _, g := range []usage.Period{usage.Day, usage.Week, usage.Month} {
					tr, err := v.Trends(t.Context(), views.TrendsQuery{Period: "custom", Span: sp, Granularity: g, Metrics: []string{"tokens", "cost", "cache_hit"}})
					if err != nil {
						t.Fatalf("%s %v: Trends by %s: %v", zone, r, g, err)
					}
					out = append(out, tr)
				}
				a, err := v.Activity(t.Context(), "custom", sp)
				if err != nil {
					t.Fatalf("%s %v: Activity: %v", zone, r, err)
				}
				st, err := v.Stats(t.Context())
				if err != nil {
					t.Fatalf("%s %v: Stats: %v", zone, r, err)
				}
				b, err := json.Marshal(append(out, a, st))
				if err != nil {
					t.Fatal(err)
				}
				return string(b), d
			}
			got, _ := all(v)
			v.Store = quarterStore{fixture.store}
			want, d := all(v)
			if got != want {
				t.Errorf("%s %v:\n%s\nwant (by quarter hours)\n%s", zone, r, got, want)
			}
			for _, day := range d.Days {
				counted = counted || day.SessionCount > 1
			}
		}
	}
	if !counted {
		t.Error("no day of the corpus has more than one session: the test compares nothing")
	}
}

func TestReportByPeriodMatchesQuarterHours(t *testing.T) {
	// The store's sums per period give the report its quarter hours give,
	// in zones with DST and :30 and :45 offsets, with ranges and a project.
	if _, ok := views.Store(fixture.store).(views.PeriodAggregator); !ok {
		t.Fatal("the SQLite store does not sum by period")
	}
	for _, zone := range []string{"UTC", "Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Skipf("zone %s: %v", zone, err)
		}
		for _, name := range []string{"daily", "weekly", "monthly"} {
			for _, q := range []views.ReportQuery{
				{Kind: views.ReportKinds[name], Breakdown: true},
				{Kind: views.ReportKinds[name], Since: "2026-02-10", Until: "2026-02-25"},
				{Kind: views.ReportKinds[name], Project: "/home/ubuntu/Documents/Claude"},
			} {
				v := newViews(blockNow, loc)
				got, err := v.Report(t.Context(), q)
				if err != nil {
					t.Fatalf("%s %s %+v: %v", zone, name, q, err)
				}
				v.Store = quarterStore{fixture.store}
				want, err := v.Report(t.Context(), q)
				if err != nil {
					t.Fatalf("%s %s %+v by quarter hours: %v", zone, name, q, err)
				}
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				if string(g) != string(w) || len(want.Groups) == 0 {
					t.Errorf("%s %s %+v:\n%s\nwant (by quarter hours)\n%s", zone, name, q, g, w)
				}
			}
		}
	}
}
