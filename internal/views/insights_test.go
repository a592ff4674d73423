package views_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/postgres"
	"github.com/claude-token-monitor/ctm/internal/postgres/pgtest"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// corpus2026Root is the corpus of newer Claude Code (subagents/ folders
// with .meta.json, attribution fields).
const corpus2026Root = "../../../shared/testdata/claude-real-2026"

// corpora returns a store for each real corpus: the package fixture for
// claude-real and a fresh index of claude-real-2026, skipping the latter
// when it is missing.
func corpora(t *testing.T) map[string]views.Store {
	t.Helper()
	out := map[string]views.Store{"claude-real": fixture.store}
	root, err := filepath.Abs(corpus2026Root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Logf("claude-real-2026 not found at %s; checking claude-real only", root)
		return out
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "c2026.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := ingest.New(st, []string{root}, slog.New(slog.DiscardHandler), ingest.Options{}).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	out["claude-real-2026"] = st
	// The same corpus on PostgreSQL (team mode), when a server is set.
	if os.Getenv(pgtest.DSNEnv) != "" {
		pg, err := postgres.Open(t.Context(), pgtest.FreshSchema(t), storetest.Prices)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pg.Close() })
		if _, err := ingest.New(pg, []string{root}, slog.New(slog.DiscardHandler), ingest.Options{}).Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		out["claude-real-2026 on PostgreSQL"] = pg
	} else {
		t.Logf("%s is not set: the views are not checked on PostgreSQL", pgtest.DSNEnv)
	}
	return out
}

// sameSums fails unless got has every token field, the cost and the
// entries of want.
func sameSums(t *testing.T, what string, got, want usage.Aggregate) {
	t.Helper()
	if got.Tokens != want.Tokens || got.CostUSD != want.CostUSD || got.Entries != want.Entries ||
		got.CacheCreationTokens != want.CacheCreationTokens || got.TotalTokens != want.TotalTokens {
		t.Errorf("%s = %+v cost %s entries %d, want %+v cost %s entries %d", what,
			got.Tokens, got.CostUSD, got.Entries, want.Tokens, want.CostUSD, want.Entries)
	}
}

// sum adds up aggregates as the views do.
func sum(aggs ...usage.Aggregate) usage.Aggregate {
	var s usage.Aggregate
	for _, a := range aggs {
		s.Tokens = s.Tokens.Add(a.Tokens)
		s.CostUSD = s.CostUSD.Add(a.CostUSD)
		s.Entries += a.Entries
	}
	s.CacheCreationTokens, s.TotalTokens = s.Tokens.CacheCreation(), s.Tokens.Total()
	return s
}

// ranges are the ranges the add-up tests cut: all time, and a narrower
// one in a zone far from UTC, whose day boundaries split sessions.
func ranges(t *testing.T, v *views.Views) []struct{ since, until string } {
	t.Helper()
	d, err := v.Report(t.Context(), views.ReportQuery{Kind: views.ReportKinds["daily"]})
	if err != nil || len(d.Groups) < 3 {
		t.Fatalf("daily: %d days, %v", len(d.Groups), err)
	}
	mid := len(d.Groups) / 2
	return []struct{ since, until string }{
		{"", ""},
		{d.Groups[mid-1].Key, d.Groups[mid+1].Key},
		{d.Groups[mid].Key, d.Groups[mid].Key},
	}
}

func TestBreakdownAndPromptsAddUpToDaily(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range corpora(t) {
		for _, loc := range []*time.Location{time.UTC, tokyo, la} {
			v := &views.Views{Store: st, Prices: fixture.prices, Location: loc}
			for _, r := range ranges(t, v) {
				what := name + " " + loc.String() + " " + r.since + ".." + r.until
				daily, err := v.Report(t.Context(), views.ReportQuery{Kind: views.ReportKinds["daily"], Since: r.since, Until: r.until})
				if err != nil {
					t.Fatal(err)
				}
				want := daily.Totals.Aggregate
				if want.Entries == 0 {
					t.Fatalf("%s: the daily report is empty", what)
				}
				for _, by := range views.BreakdownDims {
					b, err := v.Breakdown(t.Context(), views.BreakdownQuery{By: by, Since: r.since, Until: r.until})
					if err != nil {
						t.Fatal(err)
					}
					var rows []usage.Aggregate
					keys := map[string]bool{}
					for _, row := range b.Rows {
						if keys[row.Key] || row.Key == "" {
							t.Errorf("%s by %s: key %q twice or empty", what, by, row.Key)
						}
						keys[row.Key] = true
						rows = append(rows, row.Aggregate)
					}
					sameSums(t, what+" by "+by+" rows", sum(rows...), want)
					sameSums(t, what+" by "+by+" totals", b.Totals, want)
				}
				p, err := v.Prompts(t.Context(), views.PromptsQuery{Since: r.since, Until: r.until})
				if err != nil {
					t.Fatal(err)
				}
				var rows []usage.Aggregate
				for _, row := range p.Prompts {
					rows = append(rows, row.Aggregate)
				}
				if len(p.Prompts) != p.RowCount || p.RowCount == 0 {
					t.Errorf("%s: %d prompt rows of %d", what, len(p.Prompts), p.RowCount)
				}
				sameSums(t, what+" prompts rows", sum(rows...), want)
				sameSums(t, what+" prompts totals", p.Totals, want)
			}
		}
	}
}

// A response belongs to the prompt that led to it whatever range is
// asked for: rows of a narrow range are parts of the all-time rows, and a
// prompt whose responses all lie in the range has the same row.
func TestPromptOwnershipDoesNotDependOnTheRange(t *testing.T) {
	for name, st := range corpora(t) {
		v := &views.Views{Store: st, Prices: fixture.prices, Location: time.UTC}
		all, err := v.Prompts(t.Context(), views.PromptsQuery{})
		if err != nil {
			t.Fatal(err)
		}
		full := map[string]views.PromptRow{}
		for _, r := range all.Prompts {
			full[r.Key+"|"+r.SessionID] = r
		}
		rg := ranges(t, v)[1]
		from, to, _ := usage.DayRange(rg.since, rg.until, time.UTC)
		part, err := v.Prompts(t.Context(), views.PromptsQuery{Since: rg.since, Until: rg.until})
		if err != nil {
			t.Fatal(err)
		}
		same := 0
		for _, r := range part.Prompts {
			f, ok := full[r.Key+"|"+r.SessionID]
			if !ok {
				t.Errorf("%s: row %q of session %s in %v is no all-time row", name, r.Key, r.SessionID, rg)
				continue
			}
			if r.CostUSD > f.CostUSD || r.Entries > f.Entries {
				t.Errorf("%s: row %q costs more in a range than in all time", name, r.Key)
			}
			if !f.First.Before(from) && f.Last.Before(to) {
				same++
				sameSums(t, name+" row "+r.Key, r.Aggregate, f.Aggregate)
			}
		}
		if same == 0 {
			t.Errorf("%s: no prompt lies wholly in %v", name, rg)
		}
	}
}

func TestBreakdownLabels(t *testing.T) {
	st := corpora(t)
	want := map[string]map[string][]string{
		"claude-real": {"agent": {"main", "subagent"}, "skill": {views.NoneLabel}},
		"claude-real-2026": {
			"agent": {"main", "general-purpose", "statusline-setup"},
			"skill": {views.NoneLabel, "skill:deep-research", "agent:general-purpose", "skill:design-sync", "skill:statusline"},
		},
	}
	for name, s := range st {
		cuts := want[strings.TrimSuffix(name, " on PostgreSQL")]
		v := &views.Views{Store: s, Prices: fixture.prices}
		for by, keys := range cuts {
			b, err := v.Breakdown(t.Context(), views.BreakdownQuery{By: by})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, r := range b.Rows {
				got[r.Key] = true
			}
			for _, k := range keys {
				if !got[k] {
					t.Errorf("%s by %s: no row %q in %v", name, by, k, b.Rows)
				}
			}
			if len(got) != len(keys) {
				t.Errorf("%s by %s: %d rows, want %v", name, by, len(got), keys)
			}
		}
	}
}

// stores are the stores the hand-checked tests run on: SQLite, and
// PostgreSQL when a server is set.
var stores = map[string]func(t *testing.T) usage.Store{
	"sqlite": func(t *testing.T) usage.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), storetest.Prices)
		if err != nil {
			t.Fatal(err)
		}
		return st
	},
	"postgres": func(t *testing.T) usage.Store {
		st, err := postgres.Open(context.Background(), pgtest.FreshSchema(t), storetest.Prices)
		if err != nil {
			t.Fatal(err)
		}
		return st
	},
}

// storeOf applies records and prompts to a new store opened by open.
func storeOf(t *testing.T, open func(t *testing.T) usage.Store, recs []usage.Record, prompts []usage.Prompt) usage.Store {
	t.Helper()
	st := open(t)
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Apply(t.Context(), usage.Batch{Records: recs, Prompts: prompts}); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestPromptOwnership(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testPromptOwnership(t, open) })
	}
}

func testPromptOwnership(t *testing.T, open func(t *testing.T) usage.Store) {
	t0 := time.Date(2026, 5, 1, 23, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	rec := func(key string, m int, session string, agent string, sidechain bool) usage.Record {
		return usage.Record{Key: key, MessageID: key, RequestID: "r" + key, Timestamp: at(m), Model: "claude-sonnet-4-5",
			SessionID: session, Project: "/p", Agent: agent, IsSidechain: sidechain, GitBranch: "main",
			Tokens: usage.Tokens{Input: 1000, Output: 100}}
	}
	st := storeOf(t, open, []usage.Record{
		rec("a", 0, "s1", "", false),           // before the first prompt
		rec("b", 10, "s1", "", false),          // at the first prompt: its own
		rec("c", 20, "s1", "Explore", true),    // its subagent
		rec("d", 30, "s1", "", true),           // a subagent of unknown type
		rec("e", 70, "s1", "", false),          // the second prompt's, next day
		rec("f", 75, "s2", "", false),          // another session, same time
		rec("g", 5, "s2", "general", true),     // s2 before its prompt
		rec("h", 200, "s3", "", false),         // a session without prompts
		rec("i", 71, "s1", "", false),          // second prompt again
		rec("j", 61, "s1", "plan", true),       // second prompt's subagent
		rec("k", 59, "s1", "", false),          // still the first prompt
		rec("l", 60, "s1", "", false),          // at the second prompt
		rec("m", 1000, "s1", "", false),        // later still the second
		rec("n", 10, "s2", "", false),          // s2's prompt is at 9
		rec("o", 9, "s2", "", false),           // ... exactly at it
		rec("p", 8, "s2", "", false),           // ... just before it
		rec("q", 9999, "s4", "", false),        // a session outside most ranges
		rec("r", 11, "s1", "statusline", true), // first prompt
	}, []usage.Prompt{
		{Key: "s1:p1", SessionID: "s1", Project: "/p", Timestamp: at(10), Text: "first prompt"},
		{Key: "s1:p2", SessionID: "s1", Project: "/p", Timestamp: at(60), Text: "second prompt"},
		{Key: "s2:p1", SessionID: "s2", Project: "/q", Timestamp: at(9), Text: "s2 prompt"},
		{Key: "s9:p1", SessionID: "s9", Project: "/z", Timestamp: at(1), Text: "a session without responses"},
	})
	v := &views.Views{Store: st, Prices: storetest.Prices, Location: time.UTC}
	entries := func(q views.PromptsQuery) map[string]int64 {
		t.Helper()
		p, err := v.Prompts(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, r := range p.Prompts {
			k := r.Key
			if r.BeforeFirstPrompt {
				k = "before:" + r.SessionID
				if r.Text != views.BeforeFirstPrompt || r.Key != "" {
					t.Errorf("before row %+v", r)
				}
			}
			out[k] = r.Entries
		}
		return out
	}
	all := entries(views.PromptsQuery{})
	want := map[string]int64{"before:s1": 1, "s1:p1": 5, "s1:p2": 5, "before:s2": 2, "s2:p1": 3, "before:s3": 1, "before:s4": 1}
	if len(all) != len(want) {
		t.Errorf("rows = %v, want %v", all, want)
	}
	for k, n := range want {
		if all[k] != n {
			t.Errorf("row %s has %d responses, want %d (all %v)", k, all[k], n, all)
		}
	}
	// 2026-05-02 starts at minute 60: the first prompt's responses fall
	// out, the second's stay, and the range does not make s1's responses
	// "before the first prompt".
	day2 := entries(views.PromptsQuery{Since: "2026-05-02", Until: "2026-05-02"})
	if w := map[string]int64{"s1:p2": 5, "s2:p1": 1, "before:s3": 1}; len(day2) != len(w) || day2["s1:p2"] != 5 || day2["s2:p1"] != 1 || day2["before:s3"] != 1 {
		t.Errorf("2026-05-02 rows = %v, want %v", day2, w)
	}
	// In Los Angeles, 2026-05-01 ends at 07:00 UTC on the 2nd, after all
	// but q.
	la, _ := time.LoadLocation("America/Los_Angeles")
	v.Location = la
	if got := entries(views.PromptsQuery{Until: "2026-05-01", SessionID: "s2"}); len(got) != 2 || got["s2:p1"] != 3 {
		t.Errorf("s2 until 2026-05-01 in LA = %v", got)
	}
	v.Location = time.UTC
	p, err := v.Prompts(t.Context(), views.PromptsQuery{Top: 1, Sort: "cost"})
	if err != nil || len(p.Prompts) != 1 || p.RowCount != 7 {
		t.Fatalf("top 1 = %+v, %v", p, err)
	}
	if top := p.Prompts[0]; top.Key != "s1:p1" || top.Text != "first prompt" || top.SessionID != "s1" || top.Project != "/p" || !top.Timestamp.Equal(at(10)) {
		t.Errorf("top prompt = %+v, want s1:p1 (ties on cost go to the earlier)", top)
	}
	// Subagent cost of the first prompt: c, d and r.
	var sub usage.Money
	b, err := v.Breakdown(t.Context(), views.BreakdownQuery{By: "agent", Until: "2026-05-01"})
	if err != nil {
		t.Fatal(err)
	}
	agents := map[string]int64{}
	for _, r := range b.Rows {
		agents[r.Key] = r.Entries
		if r.Key != usage.AgentMain && r.Key != "general" {
			sub = sub.Add(r.CostUSD)
		}
	}
	if w := map[string]int64{"main": 6, "Explore": 1, "subagent": 1, "general": 1, "statusline": 1}; len(agents) != len(w) {
		t.Errorf("agents until 2026-05-01 = %v, want %v", agents, w)
	}
	if p.Prompts[0].CostSubagentsUSD != sub || sub == 0 {
		t.Errorf("first prompt's subagent cost = %s, want %s", p.Prompts[0].CostSubagentsUSD, sub)
	}
	d, err := v.Session(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if d.CostMainUSD.Add(d.CostSubagentsUSD) != d.CostUSD || d.CostSubagentsUSD == 0 || len(d.Agents) != 5 {
		t.Errorf("session s1 split %s + %s of %s, agents %v", d.CostMainUSD, d.CostSubagentsUSD, d.CostUSD, d.Agents)
	}
}

func TestInsightErrorsNameTheField(t *testing.T) {
	v := newViews(blockNow, time.UTC)
	for _, c := range []struct {
		err  error
		want string
	}{
		{second(v.Breakdown(t.Context(), views.BreakdownQuery{By: "colour"})), "by: "},
		{second(v.Breakdown(t.Context(), views.BreakdownQuery{By: "agent", Since: "2026-02-30"})), "since: "},
		{second(v.Breakdown(t.Context(), views.BreakdownQuery{By: "agent", Project: "no-such-project"})), "project: "},
		{second(v.Prompts(t.Context(), views.PromptsQuery{Top: -1})), "top: "},
		{second(v.Prompts(t.Context(), views.PromptsQuery{Sort: "name"})), "sort: "},
		{second(v.Prompts(t.Context(), views.PromptsQuery{Until: "x"})), "until: "},
	} {
		if c.err == nil || usage.ErrorCode(c.err) == usage.EINTERNAL || len(usage.ErrorMessage(c.err)) < len(c.want) || usage.ErrorMessage(c.err)[:len(c.want)] != c.want {
			t.Errorf("error %v, want one starting %q", c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// Reading prompts session by session and all at once own the responses
// the same way.
func TestPromptsReadPathsAgree(t *testing.T) {
	for name, st := range corpora(t) {
		v := &views.Views{Store: st, Prices: fixture.prices, Location: time.UTC}
		for _, q := range []views.PromptsQuery{{}, {Since: ranges(t, v)[1].since, Until: ranges(t, v)[1].until}} {
			perSession, err := v.Prompts(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			old := views.SetPerSessionPrompts(0)
			all, err := v.Prompts(t.Context(), q)
			views.SetPerSessionPrompts(old)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(perSession, all) || len(all.Prompts) == 0 {
				t.Errorf("%s %+v: per-session and all-at-once reads differ (%d and %d rows)", name, q, len(perSession.Prompts), len(all.Prompts))
			}
		}
	}
}

// TestBreakdownRowsMatchRecords checks each row of the cuts that only
// records hold (branch, agent, skill), which the store sums, against the
// records of the range labelled and summed one by one, on both corpora.
func TestBreakdownRowsMatchRecords(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]func(r *usage.Record) string{
		"branch": func(r *usage.Record) string { return r.GitBranch },
		"agent":  func(r *usage.Record) string { return r.AgentLabel() },
		"skill":  func(r *usage.Record) string { return r.Attribution },
	}
	for name, st := range corpora(t) {
		v := &views.Views{Store: st, Prices: fixture.prices, Location: tokyo}
		for _, r := range ranges(t, v) {
			since, until, err := usage.DayRange(r.since, r.until, tokyo)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := st.Records(t.Context(), usage.Filter{Since: since, Until: until}, usage.Page{})
			if err != nil {
				t.Fatal(err)
			}
			for by, label := range labels {
				what := name + " by " + by + " " + r.since + ".." + r.until
				want := map[string]usage.Aggregate{}
				for i := range recs {
					k := label(&recs[i])
					if k == "" {
						k = views.NoneLabel
					}
					a := want[k]
					a.Tokens = a.Tokens.Add(recs[i].Tokens)
					a.CostUSD = a.CostUSD.Add(recs[i].Cost)
					a.Entries++
					a.CacheCreationTokens, a.TotalTokens = a.Tokens.CacheCreation(), a.Tokens.Total()
					want[k] = a
				}
				b, err := v.Breakdown(t.Context(), views.BreakdownQuery{By: by, Since: r.since, Until: r.until})
				if err != nil {
					t.Fatal(err)
				}
				if len(b.Rows) != len(want) {
					t.Errorf("%s: %d rows, want %d", what, len(b.Rows), len(want))
				}
				for _, row := range b.Rows {
					sameSums(t, what+" row "+row.Key, row.Aggregate, want[row.Key])
				}
			}
		}
	}
}
