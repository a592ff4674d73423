// Package pricing prices Claude token usage from one embedded table of
// Anthropic's list prices, optionally extended or overridden by a user file.
package pricing

import (
	"cmp"
	_ "embed"
	"maps"
	"slices"
	"strings"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// embedded is the built-in price table. It is the only place prices live so
// that a price change is a data change, never a code change.
//
//go:embed prices.json
var embedded []byte

// perMillion converts a per-million-token rate into a per-token factor.
const perMillion = 1_000_000

// Rates are USD prices per million tokens.
type Rates struct {
	Input        float64 `json:"input"`
	Output       float64 `json:"output"`
	CacheWrite5m float64 `json:"cache_write_5m"`
	CacheWrite1h float64 `json:"cache_write_1h"`
	CacheRead    float64 `json:"cache_read"`
}

// cost returns the USD cost of t's tokens at r, excluding web search.
func (r Rates) cost(t usage.Tokens) float64 {
	return (float64(t.Input)*r.Input +
		float64(t.Output)*r.Output +
		float64(t.CacheCreation5m)*r.CacheWrite5m +
		float64(t.CacheCreation1h)*r.CacheWrite1h +
		float64(t.CacheRead)*r.CacheRead) / perMillion
}

// LongContext holds the rates that bill a whole request once its prompt
// (input + cache writes + cache reads) exceeds Threshold tokens.
type LongContext struct {
	// Threshold is informational: callers decide whether a request is long
	// context (usage.Record.IsLongContext) because costs are computed from
	// buckets of many requests, where the prompt size is no longer known.
	Threshold int64 `json:"threshold"`
	Rates
}

// Price is the price of one model id.
type Price struct {
	// ID is the normalised model id the price is keyed by, e.g.
	// "claude-opus-4-5".
	ID          string `json:"-"`
	DisplayName string `json:"display_name,omitempty"`
	Rates
	// LongContext is nil for models without long-context pricing.
	LongContext *LongContext `json:"long_context,omitempty"`
}

// Table is a set of model prices. It is immutable after Load and safe for
// concurrent use. *Table implements usage.Pricer.
type Table struct {
	prices map[string]Price
	// ids holds the keys of prices, longest first, so the first prefix
	// match is the longest known id.
	ids []string
	// webSearch is the USD price of 1,000 web search requests.
	webSearch float64
}

var _ usage.Pricer = (*Table)(nil)

func newTable(webSearch float64, prices map[string]Price) *Table {
	t := &Table{prices: prices, webSearch: webSearch}
	t.ids = slices.Collect(maps.Keys(prices))
	slices.SortFunc(t.ids, func(a, b string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return t
}

// Cost returns the USD cost of t on model: every token class at its
// per-million rate plus web search requests. When longContext is set and the
// model has long-context rates, the whole request is billed at them (not per
// field, not only the part above the threshold). Unknown models cost 0 and
// report known == false.
func (t *Table) Cost(model string, tok usage.Tokens, longContext bool) (cost float64, known bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	rates := p.Rates
	if longContext && p.LongContext != nil {
		rates = p.LongContext.Rates
	}
	return rates.cost(tok) + float64(tok.WebSearchRequests)*t.webSearch/1000, true
}

// Lookup returns the price of model: provider prefixes are stripped, '.' and
// '@' become '-', and the longest known id that the result starts with wins,
// so "claude-opus-4-5-20251101" is priced as claude-opus-4-5, never as
// claude-opus-4. An id only matches whole: it must be followed by the end of
// the string or a character other than a letter or digit, so
// claude-opus-4-1 does not capture a hypothetical claude-opus-4-10.
func (t *Table) Lookup(model string) (Price, bool) {
	m := Normalize(model)
	for _, id := range t.ids {
		if strings.HasPrefix(m, id) && (len(m) == len(id) || !isAlnum(m[len(id)])) {
			return t.prices[id], true
		}
	}
	return Price{}, false
}

// DisplayName returns a human name for model, e.g. "Claude Opus 4.5", or
// model itself when it has no price or no display name.
func (t *Table) DisplayName(model string) string {
	if p, ok := t.Lookup(model); ok && p.DisplayName != "" {
		return p.DisplayName
	}
	return model
}

// Models returns the known model ids, sorted.
func (t *Table) Models() []string {
	ids := slices.Clone(t.ids)
	slices.Sort(ids)
	return ids
}

// WebSearchPer1K returns the USD price of 1,000 web search requests.
func (t *Table) WebSearchPer1K() float64 { return t.webSearch }

// Normalize turns a model string as logged by Claude Code or a provider
// into the form price ids use: lower case, without anything up to the last
// '/' ("anthropic/", "bedrock/", "vertex_ai/...") or a leading
// "[<region>.]anthropic." (Bedrock), and with '.' and '@' replaced by '-'.
func Normalize(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	if i := strings.Index(m, "anthropic."); i >= 0 && isRegionPrefix(m[:i]) {
		m = m[i+len("anthropic."):]
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '@' {
			return '-'
		}
		return r
	}, m)
}

// isRegionPrefix reports whether s is "" or a Bedrock region prefix such as
// "us.", "eu." or "global." that may precede "anthropic.".
func isRegionPrefix(s string) bool {
	if s == "" {
		return true
	}
	label, ok := strings.CutSuffix(s, ".")
	if !ok || label == "" {
		return false
	}
	for i := 0; i < len(label); i++ {
		if !isAlnum(label[i]) && label[i] != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
