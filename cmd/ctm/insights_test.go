package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// sums are the summed fields of a --json row.
type sums struct {
	Input         int64       `json:"input_tokens"`
	Output        int64       `json:"output_tokens"`
	CacheCreate5m int64       `json:"cache_creation_5m_tokens"`
	CacheCreate1h int64       `json:"cache_creation_1h_tokens"`
	CacheRead     int64       `json:"cache_read_tokens"`
	WebSearch     int64       `json:"web_search_requests"`
	WebFetch      int64       `json:"web_fetch_requests"`
	CacheCreation int64       `json:"cache_creation_tokens"`
	Total         int64       `json:"total_tokens"`
	Cost          usage.Money `json:"cost_usd"`
	Entries       int64       `json:"entries"`
}

func (s *sums) add(o sums) {
	*s = sums{s.Input + o.Input, s.Output + o.Output, s.CacheCreate5m + o.CacheCreate5m, s.CacheCreate1h + o.CacheCreate1h,
		s.CacheRead + o.CacheRead, s.WebSearch + o.WebSearch, s.WebFetch + o.WebFetch, s.CacheCreation + o.CacheCreation,
		s.Total + o.Total, s.Cost + o.Cost, s.Entries + o.Entries}
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %.300s: %v", b, err)
	}
}

func sameUnits(t *testing.T, what string, got, want sums) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

// ctm breakdown and ctm prompts --json add up exactly to ctm daily --json
// on both real corpora, for all time and for a narrower range in a zone
// far from UTC.
func TestBreakdownAndPromptsAddUpToDailyCLI(t *testing.T) {
	for _, corpus := range []string{"claude-real", "claude-real-2026"} {
		for _, rg := range [][]string{nil, {"--since", "2026-01-10", "--until", "2026-06-20", "--tz", "Pacific/Auckland"}} {
			env, _, _ := testEnv(t, filepath.Join(realDir(t), corpus))
			var daily struct{ Totals sums }
			decode(t, ctm(t, env, append([]string{"daily", "--json"}, rg...)...), &daily)
			if daily.Totals.Entries == 0 {
				t.Fatalf("%s %v: no usage", corpus, rg)
			}
			for _, by := range []string{"branch", "agent", "skill", "project", "model"} {
				var b struct {
					Rows   []sums
					Totals sums
				}
				decode(t, ctm(t, env, append([]string{"breakdown", "--by", by, "--json"}, rg...)...), &b)
				var got sums
				for _, r := range b.Rows {
					got.add(r)
				}
				sameUnits(t, corpus+" breakdown --by "+by+" rows", got, daily.Totals)
				sameUnits(t, corpus+" breakdown --by "+by+" totals", b.Totals, daily.Totals)
			}
			var p struct {
				Prompts []sums
				Totals  sums
			}
			decode(t, ctm(t, env, append([]string{"prompts", "--top", "100000", "--json"}, rg...)...), &p)
			var got sums
			for _, r := range p.Prompts {
				got.add(r)
			}
			sameUnits(t, corpus+" prompts rows", got, daily.Totals)
			sameUnits(t, corpus+" prompts totals", p.Totals, daily.Totals)
		}
	}
}

func TestBreakdownAndPromptsBadFlags(t *testing.T) {
	env, _, stderr := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"breakdown", "--by", "colour"}, "--by: "},
		{[]string{"breakdown", "--since", "2026-02-30"}, "--since: "},
		{[]string{"breakdown", "--project", "no-such-project"}, "--project: "},
		{[]string{"prompts", "--top", "-1"}, "--top: "},
		{[]string{"prompts", "--sort", "name"}, "--sort: "},
	} {
		stderr.Reset()
		if code := run(t.Context(), c.args, env); code == 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("ctm %v = exit %d, %q; want an error naming %q", c.args, code, stderr, c.want)
		}
	}
}

// The breakdown and prompts tools answer what the CLI's --json prints.
func TestMCPInsightsMatchCLI(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real-2026"))
	cases := []struct {
		tool string
		args map[string]any
		cli  []string
	}{
		{"breakdown", map[string]any{"by": "agent"}, []string{"breakdown", "--by", "agent", "--json"}},
		{"breakdown", map[string]any{"by": "skill", "since": "2026-05-01", "tz": "Asia/Kolkata"}, []string{"breakdown", "--by", "skill", "--since", "2026-05-01", "--tz", "Asia/Kolkata", "--json"}},
		{"breakdown", map[string]any{"by": "branch", "project": "/local/nick/vsim"}, []string{"breakdown", "--by", "branch", "--project", "/local/nick/vsim", "--json"}},
		{"prompts", nil, []string{"prompts", "--json"}},
		{"prompts", map[string]any{"top": 500, "sort": "time", "until": "2026-06-01"}, []string{"prompts", "--top", "500", "--sort", "time", "--until", "2026-06-01", "--json"}},
	}
	var want [][]byte
	for _, c := range cases {
		want = append(want, ctm(t, env, c.cli...))
	}
	cs := mcpSession(t, env, nil)
	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*mcp.Tool{}
	for _, tool := range tools.Tools {
		byName[tool.Name] = tool
	}
	for i, c := range cases {
		tool := byName[c.tool]
		if tool == nil {
			t.Fatalf("no tool %s", c.tool)
		}
		props, _ := tool.InputSchema.(map[string]any)["properties"].(map[string]any)
		for _, arg := range []string{"since", "until", "tz", "project"} {
			if props[arg] == nil {
				t.Errorf("%s: input schema has no %q: %v", c.tool, arg, tool.InputSchema)
			}
		}
		for arg := range c.args {
			if props[arg] == nil {
				t.Errorf("%s: input schema has no %q: %v", c.tool, arg, tool.InputSchema)
			}
		}
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil {
			t.Fatal(err)
		}
		text := resultText(t, res)
		if res.IsError {
			t.Fatalf("%s(%v): %s", c.tool, c.args, text)
		}
		if got, w := exactJSON(t, []byte(text)), exactJSON(t, want[i]); !reflect.DeepEqual(got, w) {
			t.Errorf("%s(%v) =\n%.1500s\nctm %s =\n%.1500s", c.tool, c.args, text, strings.Join(c.cli, " "), want[i])
		}
		raw, _ := json.Marshal(tool.OutputSchema)
		var schema jsonschema.Schema
		if err := json.Unmarshal(raw, &schema); err != nil {
			t.Fatal(err)
		}
		resolved, err := schema.Resolve(nil)
		if err != nil {
			t.Fatal(err)
		}
		var structured any
		_ = json.Unmarshal([]byte(text), &structured)
		if err := resolved.Validate(structured); err != nil {
			t.Errorf("%s: result does not match its output schema: %v", c.tool, err)
		}
	}
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"breakdown", map[string]any{"by": "colour"}, "by: "},
		{"breakdown", map[string]any{"by": "agent", "since": "2026-02-30"}, "since: "},
		{"prompts", map[string]any{"top": -2}, "top: "},
		{"prompts", map[string]any{"top": 0}, "top: "},
		{"prompts", map[string]any{"top": 501}, "top: "},
		{"prompts", map[string]any{"sort": "name"}, "sort: "},
		{"prompts", map[string]any{"tz": "Mars/Base"}, "tz: "},
	} {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil {
			t.Fatal(err)
		}
		if text := resultText(t, res); !res.IsError || !strings.Contains(text, c.want) {
			t.Errorf("%s(%v) = %v %q, want an error naming %q", c.tool, c.args, res.IsError, text, c.want)
		}
	}
}

// ctm session --json splits every session's cost between its own
// requests and its subagents'.
func TestSessionJSONSplitsSubagents(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real-2026"))
	var rep struct {
		Sessions []struct {
			SessionID        string       `json:"session_id"`
			CostUSD          usage.Money  `json:"cost_usd"`
			CostMainUSD      *usage.Money `json:"cost_main_usd"`
			CostSubagentsUSD *usage.Money `json:"cost_subagents_usd"`
		}
	}
	decode(t, ctm(t, env, "session", "--json"), &rep)
	var sub usage.Money
	for _, s := range rep.Sessions {
		if s.CostMainUSD == nil || s.CostSubagentsUSD == nil || s.CostMainUSD.Add(*s.CostSubagentsUSD) != s.CostUSD {
			t.Errorf("session %s: split %v + %v of %s", s.SessionID, s.CostMainUSD, s.CostSubagentsUSD, s.CostUSD)
			continue
		}
		sub = sub.Add(*s.CostSubagentsUSD)
	}
	var agents struct {
		Rows []struct {
			Key     string      `json:"key"`
			CostUSD usage.Money `json:"cost_usd"`
		}
	}
	decode(t, ctm(t, env, "breakdown", "--by", "agent", "--json"), &agents)
	var want usage.Money
	for _, r := range agents.Rows {
		if r.Key != "main" {
			want = want.Add(r.CostUSD)
		}
	}
	if sub != want || sub == 0 {
		t.Errorf("sessions' subagent cost adds up to %s, breakdown --by agent to %s", sub, want)
	}
}
