package pricing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

func mustLoad(t *testing.T, userFile string) *Table {
	t.Helper()
	tab, err := Load(Options{UserFile: userFile})
	if err != nil {
		t.Fatalf("Load(%q): %v", userFile, err)
	}
	return tab
}

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

const million = 1_000_000

// TestDesignTable checks every row of DESIGN §3's table: a million tokens
// of each kind costs exactly the listed rate.
func TestDesignTable(t *testing.T) {
	tab := mustLoad(t, "")
	rows := []struct {
		ids                   []string
		in, out, w5, w1, read string
		at                    string
	}{
		{[]string{"claude-fable-5-2", "claude-mythos-5-2"}, "8", "40", "10", "16", "0.2", "2026-11-20T00:00:00Z"},
		{[]string{"claude-fable-5-1", "claude-mythos-5-1"}, "10", "50", "12.5", "20", "0.25", "2026-11-20T00:00:00Z"},
		{[]string{"claude-fable-5", "claude-mythos-5"}, "10", "50", "12.5", "20", "1", "2026-11-20T00:00:00Z"},
		{[]string{"claude-opus-5-5"}, "4", "20", "5", "8", "0.2", "2026-11-20T00:00:00Z"},
		{[]string{"claude-opus-5", "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5"}, "5", "25", "6.25", "10", "0.5", "2026-11-20T00:00:00Z"},
		{[]string{"claude-opus-4-1", "claude-opus-4", "claude-3-opus"}, "15", "75", "18.75", "30", "1.5", "2026-11-20T00:00:00Z"},
		{[]string{"claude-sonnet-5-5"}, "2", "10", "2.5", "4", "0.2", "2026-10-06T23:59:59Z"},
		{[]string{"claude-sonnet-5-5"}, "2", "10", "2.5", "4", "0.1", "2026-10-07T00:00:00Z"},
		{[]string{"claude-sonnet-5"}, "2", "10", "2.5", "4", "0.2", "2026-11-20T00:00:00Z"},
		{[]string{"claude-sonnet-4-6", "claude-sonnet-4-5", "claude-sonnet-4", "claude-3-7-sonnet", "claude-3-5-sonnet"}, "3", "15", "3.75", "6", "0.3", "2026-11-20T00:00:00Z"},
		{[]string{"claude-haiku-4-5"}, "1", "5", "1.25", "2", "0.1", "2026-11-20T00:00:00Z"},
		{[]string{"claude-3-5-haiku"}, "0.8", "4", "1", "1.6", "0.08", "2026-11-20T00:00:00Z"},
		{[]string{"claude-3-haiku"}, "0.25", "1.25", "0.3", "0.5", "0.03", "2026-11-20T00:00:00Z"},
	}
	for _, row := range rows {
		for _, id := range row.ids {
			// A million of one kind at a time stays under every tier.
			for i, tok := range []usage.Tokens{{Input: 99_000}, {Output: million}, {CacheCreation5m: 99_000}, {CacheCreation1h: 99_000}, {CacheRead: 99_000}} {
				want := []string{row.in, row.out, row.w5, row.w1, row.read}[i]
				r := usage.Record{Model: id, Timestamp: day(row.at), Tokens: tok}
				got, ok := tab.Price(&r)
				if !ok {
					t.Fatalf("%s has no price", id)
				}
				n := max(tok.Input, tok.Output, tok.CacheCreation5m, tok.CacheCreation1h, tok.CacheRead)
				wantMoney, err := usage.ParseMoney(want)
				if err != nil {
					t.Fatal(err)
				}
				if wantMoney = wantMoney * usage.Money(n) / million; got != wantMoney {
					t.Errorf("%s at %s, %+v: %s, want %s", id, row.at, tok, got, wantMoney)
				}
			}
		}
	}
}

// TestPriceRules checks each billing rule at its boundaries against
// figures computed by hand.
func TestPriceRules(t *testing.T) {
	tab := mustLoad(t, "")
	tests := []struct {
		name string
		r    usage.Record
		want string
	}{
		// Long context: over 200,000 prompt tokens (input + writes + reads),
		// the whole request at 2x input and 1.5x output.
		{"opus 4.6 prompt 200,000 on 2026-03-12", usage.Record{Model: "claude-opus-4-6", Timestamp: day("2026-03-12T23:59:59Z"),
			Tokens: usage.Tokens{Input: 100_000, CacheRead: 50_000, CacheCreation5m: 50_000, Output: 1000}}, "0.8625"},
		{"opus 4.6 prompt 200,001 on 2026-03-12", usage.Record{Model: "claude-opus-4-6", Timestamp: day("2026-03-12T23:59:59Z"),
			Tokens: usage.Tokens{Input: 100_001, CacheRead: 50_000, CacheCreation5m: 50_000, Output: 1000}}, "1.71251"},
		{"opus 4.6 prompt 200,001 on 2026-03-13", usage.Record{Model: "claude-opus-4-6", Timestamp: day("2026-03-13T00:00:00Z"),
			Tokens: usage.Tokens{Input: 100_001, CacheRead: 50_000, CacheCreation5m: 50_000, Output: 1000}}, "0.862505"},
		{"sonnet 4.6 prompt 200,001 on 2026-03-12", usage.Record{Model: "claude-sonnet-4-6", Timestamp: day("2026-03-12T12:00:00Z"),
			Tokens: usage.Tokens{Input: 200_001, Output: 1000}}, "1.222506"},
		{"sonnet 4.6 prompt 200,001 on 2026-03-13", usage.Record{Model: "claude-sonnet-4-6", Timestamp: day("2026-03-13T12:00:00Z"),
			Tokens: usage.Tokens{Input: 200_001, Output: 1000}}, "0.615003"},
		{"sonnet 4.5 prompt 200,001 in 2026-11", usage.Record{Model: "claude-sonnet-4-5-20250929", Timestamp: day("2026-11-12T12:00:00Z"),
			Tokens: usage.Tokens{Input: 200_001, Output: 1000}}, "1.222506"},
		{"sonnet 4 prompt 200,000", usage.Record{Model: "claude-sonnet-4-20250514", Timestamp: day("2025-08-12T12:00:00Z"),
			Tokens: usage.Tokens{Input: 200_000, Output: 1_000_000}}, "15.6"},
		// Output never counts toward the prompt.
		{"sonnet 4 big output", usage.Record{Model: "claude-sonnet-4", Timestamp: day("2025-08-12T12:00:00Z"),
			Tokens: usage.Tokens{Input: 10, Output: 300_000}}, "4.50003"},
		// Haiku 5.5: its prompt-size tier starts above 100,000.
		{"haiku 5.5 prompt 100,000", usage.Record{Model: "claude-haiku-5-5", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 100_000, Output: 1000}}, "0.0105"},
		{"haiku 5.5 prompt 100,001", usage.Record{Model: "claude-haiku-5-5", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 100_001, Output: 1000}}, "0.0525005"},
		// Effective dates.
		{"sonnet 5.5 read 2026-10-06", usage.Record{Model: "claude-sonnet-5-5", Timestamp: day("2026-10-06T23:59:59Z"),
			Tokens: usage.Tokens{CacheRead: 90_000}}, "0.018"},
		{"sonnet 5.5 read 2026-10-07", usage.Record{Model: "claude-sonnet-5-5", Timestamp: day("2026-10-07T00:00:00Z"),
			Tokens: usage.Tokens{CacheRead: 90_000}}, "0.009"},
		// Fast mode: 2x on Opus 4.8, 5, 5.5 and Fable 5.2, 6x on Opus 4.6;
		// a model without a fast rate bills fast requests at its usual rates.
		{"opus 4.8 fast", usage.Record{Model: "claude-opus-4-8", Speed: "fast", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 1000, Output: 1000, CacheRead: 10_000}}, "0.07"},
		{"opus 5 fast", usage.Record{Model: "claude-opus-5", Speed: "fast", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Output: 1000}}, "0.05"},
		{"opus 5.5 fast", usage.Record{Model: "claude-opus-5-5", Speed: "fast", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Output: 1000}}, "0.04"},
		{"fable 5.2 fast", usage.Record{Model: "claude-fable-5-2", Speed: "fast", Timestamp: day("2026-11-20T00:00:00Z"),
			Tokens: usage.Tokens{Output: 1000}}, "0.08"},
		{"opus 4.6 fast", usage.Record{Model: "claude-opus-4-6", Speed: "fast", Timestamp: day("2026-06-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 1000, Output: 1000}}, "0.18"},
		{"opus 4.7 fast has no fast rate", usage.Record{Model: "claude-opus-4-7", Speed: "fast", Timestamp: day("2026-06-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 1000, Output: 1000}}, "0.03"},
		{"opus 4.8 standard speed", usage.Record{Model: "claude-opus-4-8", Speed: "standard", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 1000, Output: 1000, CacheRead: 10_000}}, "0.035"},
		// Fast x residency x long context stack: 10 / 37.50 x 6 x 1.1.
		{"opus 4.6 fast us long 2026-03-12", usage.Record{Model: "claude-opus-4-6", Speed: "fast", InferenceGeo: "us",
			Timestamp: day("2026-03-12T00:00:00Z"), Tokens: usage.Tokens{Input: 200_001, Output: 1000}}, "13.447566"},
		{"opus 4.6 fast us 2026-03-13", usage.Record{Model: "claude-opus-4-6", Speed: "fast", InferenceGeo: "us",
			Timestamp: day("2026-03-13T00:00:00Z"), Tokens: usage.Tokens{Input: 200_001, Output: 1000}}, "6.765033"},
		// Residency: 1.1x on 4.6 and later models only; other geos 1x.
		{"opus 4.8 us", usage.Record{Model: "claude-opus-4-8", InferenceGeo: "us", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 10_000}}, "0.055"},
		{"opus 4.8 global", usage.Record{Model: "claude-opus-4-8", InferenceGeo: "global", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 10_000}}, "0.05"},
		{"opus 4.8 not_available", usage.Record{Model: "claude-opus-4-8", InferenceGeo: "not_available", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 10_000}}, "0.05"},
		{"opus 4.5 us is not eligible", usage.Record{Model: "claude-opus-4-5", InferenceGeo: "us", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 10_000}}, "0.05"},
		// Batch: half of every rate.
		{"sonnet 4.5 batch", usage.Record{Model: "claude-sonnet-4-5", ServiceTier: "batch", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 10_000, Output: 10_000, CacheRead: 10_000}}, "0.0915"},
		{"sonnet 4.5 standard tier", usage.Record{Model: "claude-sonnet-4-5", ServiceTier: "standard", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{Input: 10_000, Output: 10_000, CacheRead: 10_000}}, "0.183"},
		// 0.125 x 0.5 x 1.1 = 0.06875 per million: 687.5e-10 a token. A
		// request's cost is rounded once, half to even.
		{"haiku 5.5 batch us one write", usage.Record{Model: "claude-haiku-5-5", ServiceTier: "batch", InferenceGeo: "us",
			Timestamp: day("2026-11-01T00:00:00Z"), Tokens: usage.Tokens{CacheCreation5m: 1}}, "0.0000000688"},
		{"haiku 5.5 batch us three writes", usage.Record{Model: "claude-haiku-5-5", ServiceTier: "batch", InferenceGeo: "us",
			Timestamp: day("2026-11-01T00:00:00Z"), Tokens: usage.Tokens{CacheCreation5m: 3}}, "0.0000002062"},
		// Server tools: $10 per 1,000 searches, fetches free.
		{"web search and fetch", usage.Record{Model: "claude-sonnet-4-5", Timestamp: day("2026-11-01T00:00:00Z"),
			Tokens: usage.Tokens{WebSearchRequests: 3, WebFetchRequests: 7}}, "0.03"},
		// 1-hour writes at their own rate.
		{"opus 4.5 1h writes", usage.Record{Model: "claude-opus-4-5", Timestamp: day("2026-01-01T00:00:00Z"),
			Tokens: usage.Tokens{CacheCreation5m: 1000, CacheCreation1h: 1000}}, "0.01625"},
		// Counts no transcript can hold still neither wrap nor go negative.
		{"huge counts saturate", usage.Record{Model: "claude-opus-4-1", Timestamp: day("2026-01-01T00:00:00Z"),
			Tokens: usage.Tokens{Output: 1 << 62, Input: 1 << 62}}, "922337203.6854775807"},
		{"negative counts are zero", usage.Record{Model: "claude-opus-4-1", Timestamp: day("2026-01-01T00:00:00Z"),
			Tokens: usage.Tokens{Output: -1000, Input: 1000}}, "0.015"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tab.Price(&tc.r)
			if !ok {
				t.Fatalf("%s has no price", tc.r.Model)
			}
			if got.String() != tc.want {
				t.Errorf("Price = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLookupMatching(t *testing.T) {
	tab := mustLoad(t, "")
	for model, want := range map[string]string{
		"claude-fable-5-20260601":                      "claude-fable-5",
		"claude-fable-5-2":                             "claude-fable-5-2",
		"claude-fable-5-2-20261110":                    "claude-fable-5-2",
		"claude-mythos-5-1":                            "claude-mythos-5-1",
		"claude-opus-5":                                "claude-opus-5",
		"claude-opus-5-5-20261001":                     "claude-opus-5-5",
		"claude-opus-5-7":                              "",
		"claude-opus-4-10":                             "",
		"claude-opus-4-1-20250805":                     "claude-opus-4-1",
		"claude-opus-4-0":                              "claude-opus-4",
		"claude-sonnet-4-0":                            "claude-sonnet-4",
		"us.anthropic.claude-opus-4-6-v1:0":            "claude-opus-4-6",
		"eu.anthropic.claude-sonnet-4-5-20250929-v1:0": "claude-sonnet-4-5",
		"anthropic.claude-3-5-sonnet-20240620-v1:0":    "claude-3-5-sonnet",
		"anthropic/claude-sonnet-4.5":                  "claude-sonnet-4-5",
		"vertex_ai/claude-opus-4-1@20250805":           "claude-opus-4-1",
		"claude-3-5-sonnet-v2@20241022":                "claude-3-5-sonnet",
		"claude-sonnet-4-5[1m]":                        "claude-sonnet-4-5",
		"Claude-Opus-4-5":                              "claude-opus-4-5",
		"claude-3-7-sonnet-latest":                     "claude-3-7-sonnet",
		"claude-haiku-4-5-20251001":                    "claude-haiku-4-5",
		"claude-sonnet-4-5-thinking":                   "",
		"gpt-4o":                                       "",
		"<synthetic>":                                  "",
		"":                                             "",
	} {
		got := ""
		if m := tab.Lookup(model); m != nil {
			got = m.ID
		}
		if got != want {
			t.Errorf("Lookup(%q) = %q, want %q", model, got, want)
		}
		if tab.Priced(model) != (want != "") {
			t.Errorf("Priced(%q) = %v", model, !(want != ""))
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUserFileOverridesAndAdds(t *testing.T) {
	// A file of the first release's format (no as_of, long_context) still
	// works, and ids are normalised.
	p := writeFile(t, `{"web_search_per_1k": 20, "models": {
		"claude-opus-4.5": {"input": 1, "output": 2, "cache_write_5m": 3, "cache_write_1h": 4, "cache_read": 5},
		"acme/my-model": {"display_name": "Mine", "input": 1, "output": 1, "cache_write_5m": 1, "cache_write_1h": 1, "cache_read": 1,
			"long_context": {"threshold": 10, "input": 2, "output": 2, "cache_write_5m": 2, "cache_write_1h": 2, "cache_read": 2}}}}`)
	tab := mustLoad(t, p)
	at := day("2026-11-01T00:00:00Z")
	for _, tc := range []struct {
		r    usage.Record
		want string
	}{
		{usage.Record{Model: "claude-opus-4-5", Timestamp: at, Tokens: usage.Tokens{Input: million, WebSearchRequests: 1}}, "1.02"},
		{usage.Record{Model: "my-model-20260101", Timestamp: at, Tokens: usage.Tokens{Input: 10}}, "0.02001"},
		{usage.Record{Model: "my-model", Timestamp: at, Tokens: usage.Tokens{Input: 11}}, "0.020022"},
		// Entries the file does not name keep the embedded prices.
		{usage.Record{Model: "claude-opus-4-1", Timestamp: at, Tokens: usage.Tokens{Input: million}}, "15.02"},
	} {
		r := tc.r
		r.Tokens.WebSearchRequests = 1
		if got, _ := tab.Price(&r); got.String() != tc.want {
			t.Errorf("%s: %s, want %s", r.Model, got, tc.want)
		}
	}
	if m := tab.Lookup("claude-opus-4-5"); m.Origin != FromUserFile {
		t.Errorf("origin of an overridden entry = %s", m.Origin)
	}
	if m := tab.Lookup("claude-opus-4-1"); m.Origin != FromEmbedded {
		t.Errorf("origin of an embedded entry = %s", m.Origin)
	}
	if tab.DisplayName("my-model") != "Mine" {
		t.Errorf("DisplayName = %q", tab.DisplayName("my-model"))
	}
}

func TestBadFiles(t *testing.T) {
	rates := `"input": 1, "output": 1, "cache_write_5m": 1, "cache_write_1h": 1, "cache_read": 1`
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `{`, "bad JSON"},
		{"empty", ``, "empty file"},
		{"unknown field", `{"models": {}, "extra": 1}`, `unknown field "extra"`},
		{"negative", `{"models": {"m": {"input": -1, "output": 1, "cache_write_5m": 1, "cache_write_1h": 1, "cache_read": 1}}}`, `model "m": input: -1 must not be negative`},
		{"too precise", `{"models": {"m": {"input": 0.0000001, "output": 1, "cache_write_5m": 1, "cache_write_1h": 1, "cache_read": 1}}}`, "more than 6 decimal places"},
		{"absurd", `{"models": {"m": {"input": 1e7, "output": 1, "cache_write_5m": 1, "cache_write_1h": 1, "cache_read": 1}}}`, "absurdly large"},
		{"missing rate", `{"models": {"m": {"input": 1}}}`, `model "m": output is missing`},
		{"empty id", `{"models": {"": {` + rates + `}}}`, "empty model id"},
		{"twice", `{"models": {"a.b": {` + rates + `}, "a-b": {` + rates + `}}}`, "listed twice"},
		{"gap", `{"models": {"m": {"prices": [{"until": "2026-01-01", ` + rates + `}, {"from": "2026-02-01", ` + rates + `}]}}}`, `prices[1] must start`},
		{"open start missing", `{"models": {"m": {"prices": [{"from": "2026-01-01", ` + rates + `}]}}}`, `must have no "from"`},
		{"bad date", `{"models": {"m": {"prices": [{"until": "2026-13-01", ` + rates + `}, {"from": "2026-13-01", ` + rates + `}]}}}`, `not a valid YYYY-MM-DD date`},
		{"both forms", `{"models": {"m": {` + rates + `, "prices": [{` + rates + `}]}}}`, "not both"},
		{"bad tier", `{"models": {"m": {` + rates + `, "tiers": [{"above": 0, ` + rates + `}]}}}`, "positive number of tokens"},
		{"bad multiplier", `{"models": {"m": {` + rates + `, "fast": 0}}}`, "fast 0 must be above 0"},
		{"alias clash", `{"models": {"m": {` + rates + `, "aliases": ["claude-opus-4-5"]}}}`, "also a model of its own"},
		{"format", `{"format": 3, "models": {}}`, "format 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Options{UserFile: writeFile(t, tc.body)})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "prices.json") {
				t.Errorf("error = %v, want one naming the file and %q", err, tc.want)
			}
		})
	}
	if _, err := Load(Options{UserFile: filepath.Join(t.TempDir(), "none.json")}); err == nil {
		t.Error("a missing user file loaded")
	}
}

func TestRefreshedTable(t *testing.T) {
	base := mustLoad(t, "")
	newer := strings.Replace(string(embedded), `"as_of": "2026-11-10"`, `"as_of": "2099-01-01"`, 1)
	newer = strings.Replace(newer, `"input": 8, "output": 40`, `"input": 9, "output": 40`, 1)
	p := writeFile(t, newer)
	tab, err := Load(Options{Refreshed: p})
	if err != nil {
		t.Fatal(err)
	}
	if tab.AsOf != "2099-01-01" || tab.Lookup("claude-fable-5-2").Origin != FromRefreshed || tab.Fingerprint() == base.Fingerprint() {
		t.Errorf("a newer refreshed table is not in force: as_of %s", tab.AsOf)
	}
	older := strings.Replace(string(embedded), `"as_of": "2026-11-10"`, `"as_of": "2000-01-01"`, 1)
	if tab, err = Load(Options{Refreshed: writeFile(t, older)}); err != nil || tab.Fingerprint() != base.Fingerprint() {
		t.Errorf("an older refreshed table replaced the embedded one (%v)", err)
	}
	if tab, err = Load(Options{Refreshed: filepath.Join(t.TempDir(), "absent.json")}); err != nil || tab.Fingerprint() != base.Fingerprint() {
		t.Errorf("no refreshed file: %v", err)
	}
	if _, err = Load(Options{Refreshed: writeFile(t, `{"format": 2}`)}); err == nil || !strings.Contains(err.Error(), "refreshed prices") {
		t.Errorf("a broken refreshed file: %v", err)
	}
}

// TestEncodeRoundTrip: `ctm prices --json` prints what PRICING_FILE and
// Parse accept, and the same table comes back.
func TestEncodeRoundTrip(t *testing.T) {
	tab := mustLoad(t, "")
	data, err := tab.encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(encode()): %v\n%s", err, data)
	}
	if again.Fingerprint() != tab.Fingerprint() {
		t.Error("the encoded table has another fingerprint")
	}
	user, err := Load(Options{UserFile: writeFile(t, string(data))})
	if err != nil || user.Fingerprint() != tab.Fingerprint() {
		t.Errorf("the encoded table as PRICING_FILE: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"  Claude-Opus-4.5 ":                    "claude-opus-4-5",
		"bedrock/anthropic.claude-3-haiku":      "claude-3-haiku",
		"global.anthropic.claude-opus-4-6-v1:0": "claude-opus-4-6",
		"claude-sonnet-4-5[1m]":                 "claude-sonnet-4-5",
		"claude_opus_4_5":                       "claude-opus-4-5",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
