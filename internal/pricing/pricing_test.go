package pricing

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// designRates are the prices of DESIGN §3, written out independently of
// prices.json: in, out, 5m write, 1h write, read.
var designRates = map[string][5]float64{
	"claude-opus-4-5":   {5, 25, 6.25, 10, 0.50},
	"claude-opus-4-6":   {5, 25, 6.25, 10, 0.50},
	"claude-opus-4-7":   {5, 25, 6.25, 10, 0.50},
	"claude-opus-4-8":   {5, 25, 6.25, 10, 0.50},
	"claude-opus-4-1":   {15, 75, 18.75, 30, 1.50},
	"claude-opus-4":     {15, 75, 18.75, 30, 1.50},
	"claude-3-opus":     {15, 75, 18.75, 30, 1.50},
	"claude-sonnet-4-6": {3, 15, 3.75, 6, 0.30},
	"claude-sonnet-4-5": {3, 15, 3.75, 6, 0.30},
	"claude-sonnet-4":   {3, 15, 3.75, 6, 0.30},
	"claude-3-7-sonnet": {3, 15, 3.75, 6, 0.30},
	"claude-3-5-sonnet": {3, 15, 3.75, 6, 0.30},
	"claude-haiku-4-5":  {1, 5, 1.25, 2, 0.10},
	"claude-3-5-haiku":  {0.80, 4, 1, 1.60, 0.08},
	"claude-3-haiku":    {0.25, 1.25, 0.30, 0.50, 0.03},
	"claude-sonnet-5":   {2, 10, 2.50, 4, 0.20},
}

// designLongContext are the long-context rates of DESIGN §3.
var designLongContext = [5]float64{6, 22.50, 7.50, 12, 0.60}

// oneMillionOf returns, for each token class in rate order, a Tokens value
// holding one million tokens of that class only.
func oneMillionOf() [5]usage.Tokens {
	const m = 1_000_000
	return [5]usage.Tokens{
		{Input: m}, {Output: m}, {CacheCreation5m: m}, {CacheCreation1h: m}, {CacheRead: m},
	}
}

var classNames = [5]string{"input", "output", "cache_write_5m", "cache_write_1h", "cache_read"}

func mustLoad(t *testing.T, userFile string) *Table {
	t.Helper()
	tab, err := Load(userFile)
	if err != nil {
		t.Fatalf("Load(%q) = %v", userFile, err)
	}
	return tab
}

func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

func TestCostDesignTable(t *testing.T) {
	tab := mustLoad(t, "")
	for id, rates := range designRates {
		for _, model := range []string{id, id + "-20250101", id + "@20250101"} {
			t.Run(model, func(t *testing.T) {
				for i, tok := range oneMillionOf() {
					got, known := tab.Cost(model, tok, false)
					if !known || !near(got, rates[i]) {
						t.Errorf("Cost(%q, 1M %s) = %v, %v; want %v, true", model, classNames[i], got, known, rates[i])
					}
				}
			})
		}
	}
}

func TestEmbeddedTableMatchesDesign(t *testing.T) {
	tab := mustLoad(t, "")
	want := slices.Sorted(func(yield func(string) bool) {
		for id := range designRates {
			if !yield(id) {
				return
			}
		}
	})
	if got := tab.Models(); !slices.Equal(got, want) {
		t.Errorf("Models() = %v, want %v", got, want)
	}
	for _, id := range tab.Models() {
		p, _ := tab.Lookup(id)
		hasLC := id == "claude-sonnet-4" || id == "claude-sonnet-4-5"
		if (p.LongContext != nil) != hasLC {
			t.Errorf("%s: long context rates present = %v, want %v", id, p.LongContext != nil, hasLC)
		}
		if p.LongContext != nil && p.LongContext.Threshold != usage.LongContextThreshold {
			t.Errorf("%s: long context threshold = %d, want %d", id, p.LongContext.Threshold, usage.LongContextThreshold)
		}
		if p.DisplayName == "" || p.ID != id {
			t.Errorf("%s: Lookup = %+v, want its own id and a display name", id, p)
		}
	}
	if got := tab.WebSearchPer1K(); got != 10 {
		t.Errorf("WebSearchPer1K() = %v, want 10", got)
	}
}

func TestCostLongContext(t *testing.T) {
	tab := mustLoad(t, "")
	// A prompt of exactly the threshold is not long context; one token more
	// is, and then every token of the request uses the long-context rates.
	at := usage.Tokens{Input: 1_000, CacheCreation5m: 9_000, CacheCreation1h: 40_000, CacheRead: 150_000, Output: 2_000}
	over := at
	over.CacheRead++
	cost := func(r [5]float64, t usage.Tokens) float64 {
		return (float64(t.Input)*r[0] + float64(t.Output)*r[1] + float64(t.CacheCreation5m)*r[2] +
			float64(t.CacheCreation1h)*r[3] + float64(t.CacheRead)*r[4]) / 1e6
	}
	tests := []struct {
		model string
		tok   usage.Tokens
		want  float64
	}{
		{"claude-sonnet-4-5-20250929", at, cost(designRates["claude-sonnet-4-5"], at)},
		{"claude-sonnet-4-5-20250929", over, cost(designLongContext, over)},
		{"claude-sonnet-4-20250514", at, cost(designRates["claude-sonnet-4"], at)},
		{"claude-sonnet-4-20250514", over, cost(designLongContext, over)},
		// Models without long-context rates ignore the flag.
		{"claude-sonnet-4-6", over, cost(designRates["claude-sonnet-4-6"], over)},
		{"claude-opus-4-6", over, cost(designRates["claude-opus-4-6"], over)},
	}
	for _, tt := range tests {
		r := usage.Record{Tokens: tt.tok}
		got, known := tab.Cost(tt.model, tt.tok, r.IsLongContext())
		if !known || !near(got, tt.want) {
			t.Errorf("Cost(%q, prompt %d, long=%v) = %v, %v; want %v, true",
				tt.model, tt.tok.Prompt(), r.IsLongContext(), got, known, tt.want)
		}
	}
	// Each class is billed at its own long-context rate.
	for i, tok := range oneMillionOf() {
		got, _ := tab.Cost("claude-sonnet-4-5", tok, true)
		if !near(got, designLongContext[i]) {
			t.Errorf("long-context Cost(1M %s) = %v, want %v", classNames[i], got, designLongContext[i])
		}
	}
}

func TestCostWebSearchAnd1hWrites(t *testing.T) {
	tab := mustLoad(t, "")
	tests := []struct {
		name  string
		model string
		tok   usage.Tokens
		want  float64
		known bool
	}{
		{"web search only", "claude-opus-4-6", usage.Tokens{WebSearchRequests: 3}, 0.03, true},
		{"web search plus tokens", "claude-haiku-4-5-20251001",
			usage.Tokens{Input: 2_000_000, WebSearchRequests: 1000}, 2 + 10, true},
		{"1h and 5m writes priced apart", "claude-opus-4-5-20251101",
			usage.Tokens{CacheCreation5m: 400_000, CacheCreation1h: 100_000}, 0.4*6.25 + 0.1*10, true},
		{"unknown model costs nothing", "gpt-4o", usage.Tokens{Input: 1_000_000, WebSearchRequests: 5}, 0, false},
		{"synthetic is unknown", "<synthetic>", usage.Tokens{Output: 10}, 0, false},
		{"empty model is unknown", "", usage.Tokens{Output: 10}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := tab.Cost(tt.model, tt.tok, false)
			if known != tt.known || !near(got, tt.want) {
				t.Errorf("Cost(%q, %+v) = %v, %v; want %v, %v", tt.model, tt.tok, got, known, tt.want, tt.known)
			}
		})
	}
}

func TestLookupMatching(t *testing.T) {
	tab := mustLoad(t, "")
	tests := []struct {
		model  string
		wantID string // "" means unknown
	}{
		{"claude-opus-4-5-20251101", "claude-opus-4-5"},
		{"claude-opus-4-20250514", "claude-opus-4"},
		{"claude-opus-4", "claude-opus-4"},
		{"claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"claude-3-5-sonnet@20240620", "claude-3-5-sonnet"},
		{"claude-3.5-sonnet", "claude-3-5-sonnet"},
		{"claude-3-5-haiku-20241022", "claude-3-5-haiku"},
		{"claude-3-haiku-20240307", "claude-3-haiku"},
		{"Claude-Sonnet-4-5", "claude-sonnet-4-5"},
		{"claude-sonnet-4-5-20250929[1m]", "claude-sonnet-4-5"},
		{"anthropic/claude-opus-4-5", "claude-opus-4-5"},
		{"anthropic/claude-opus-4.5", "claude-opus-4-5"},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"},
		{"eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet"},
		{"global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"},
		{"apac.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"},
		{"anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"},
		{"bedrock/us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"},
		{"vertex_ai/claude-3-5-sonnet@20240620", "claude-3-5-sonnet"},
		{"openrouter/anthropic/claude-sonnet-4.6", "claude-sonnet-4-6"},
		// claude-opus-4-1 must not capture a longer version number.
		{"claude-opus-4-10", "claude-opus-4"},
		{"claude-sonnet-45", ""},
		{"notanthropic.claude-opus-4-5", ""},
		{"gpt-4o", ""},
		{"<synthetic>", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			p, ok := tab.Lookup(tt.model)
			if ok != (tt.wantID != "") || p.ID != tt.wantID {
				t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.model, p.ID, ok, tt.wantID, tt.wantID != "")
			}
		})
	}
}

func TestDisplayName(t *testing.T) {
	tab := mustLoad(t, "")
	tests := []struct{ model, want string }{
		{"claude-opus-4-5-20251101", "Claude Opus 4.5"},
		{"claude-sonnet-4-20250514", "Claude Sonnet 4"},
		{"us.anthropic.claude-haiku-4-5-20251001-v1:0", "Claude Haiku 4.5"},
		{"claude-3-5-haiku-20241022", "Claude Haiku 3.5"},
		{"mystery-model", "mystery-model"},
	}
	for _, tt := range tests {
		if got := tab.DisplayName(tt.model); got != tt.want {
			t.Errorf("DisplayName(%q) = %q, want %q", tt.model, got, tt.want)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadUserFileOverrides(t *testing.T) {
	path := writeFile(t, `{
  "web_search_per_1k": 20,
  "models": {
    "Claude-Opus-4.5": {"input": 1, "output": 2, "cache_write_5m": 3, "cache_write_1h": 4, "cache_read": 5},
    "my-model": {"display_name": "My Model", "input": 7, "output": 8,
      "long_context": {"threshold": 1000, "input": 70, "output": 80}}
  }
}`)
	tab := mustLoad(t, path)
	tests := []struct {
		name  string
		model string
		tok   usage.Tokens
		long  bool
		want  float64
	}{
		{"override replaces embedded price", "claude-opus-4-5-20251101",
			usage.Tokens{Input: 1e6, Output: 1e6, CacheCreation5m: 1e6, CacheCreation1h: 1e6, CacheRead: 1e6}, false, 15},
		{"other embedded prices stay", "claude-opus-4-6", usage.Tokens{Input: 1e6}, false, 5},
		{"new model is priced", "my-model-v2", usage.Tokens{Input: 1e6, Output: 1e6}, false, 15},
		{"new model long context", "my-model", usage.Tokens{Input: 1e6, Output: 1e6}, true, 150},
		{"web search price overridden", "claude-opus-4-6", usage.Tokens{WebSearchRequests: 1000}, false, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := tab.Cost(tt.model, tt.tok, tt.long)
			if !known || !near(got, tt.want) {
				t.Errorf("Cost(%q) = %v, %v; want %v, true", tt.model, got, known, tt.want)
			}
		})
	}
	if got := tab.DisplayName("my-model"); got != "My Model" {
		t.Errorf("DisplayName(my-model) = %q, want %q", got, "My Model")
	}
	// An override without a display name falls back to the raw model.
	if got := tab.DisplayName("claude-opus-4-5"); got != "claude-opus-4-5" {
		t.Errorf("DisplayName(claude-opus-4-5) = %q, want the raw id", got)
	}
	// A user file must not change the embedded table of a later Load.
	if got, _ := mustLoad(t, "").Cost("claude-opus-4-5", usage.Tokens{Input: 1e6}, false); got != 5 {
		t.Errorf("embedded opus-4-5 input after override = %v, want 5", got)
	}
}

func TestLoadUserFileKeepsWebSearchPrice(t *testing.T) {
	tab := mustLoad(t, writeFile(t, `{"models": {}}`))
	if got := tab.WebSearchPer1K(); got != 10 {
		t.Errorf("WebSearchPer1K() = %v, want the embedded 10", got)
	}
}

func TestLoadBadUserFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string // substring of the error besides the file name
	}{
		{"bad JSON", "{\n  \"models\": {\n    \"x\": {\"input\": 1,}\n  }\n}", "bad JSON at line 3"},
		{"wrong type", `{"models": {"x": {"input": "cheap"}}}`, "bad JSON at line 1"},
		{"empty file", ``, "empty file"},
		{"truncated", `{"models": {`, "bad JSON"},
		{"trailing data", `{"models": {}} {}`, "unexpected data"},
		{"unknown top-level field", `{"modles": {}}`, `unknown field "modles"`},
		{"unknown model field", `{"models": {"x": {"inptu": 1}}}`, `unknown field "inptu"`},
		{"negative price", `{"models": {"x": {"input": 1, "cache_read": -0.5}}}`, "cache_read price -0.5 must not be negative"},
		{"negative long context price", `{"models": {"x": {"long_context": {"threshold": 5, "output": -1}}}}`,
			"long_context.output price -1"},
		{"zero threshold", `{"models": {"x": {"long_context": {"input": 1}}}}`, "threshold 0 must be positive"},
		{"negative web search", `{"web_search_per_1k": -10}`, "web_search_per_1k price -10"},
		{"empty id", `{"models": {" ": {"input": 1}}}`, "empty model id"},
		{"duplicate id", `{"models": {"claude-x.1": {}, "claude-x-1": {}}}`, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = nil error, want one containing %q", tt.content, tt.want)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%s) error = %q, want it to name %q and contain %q", tt.content, err, path, tt.want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "nope.json")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) error = %v, want one naming %q", err, missing)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"claude-opus-4.5", "claude-opus-4-5"},
		{"vertex_ai/claude-3-5-sonnet@20240620", "claude-3-5-sonnet-20240620"},
		{"us-gov.anthropic.claude-3-haiku", "claude-3-haiku"},
		{".anthropic.claude-3-haiku", "-anthropic-claude-3-haiku"},
		{"us_x.anthropic.claude", "us_x-anthropic-claude"},
		{"  Claude-Haiku-4-5 ", "claude-haiku-4-5"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
