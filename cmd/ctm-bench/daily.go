package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/claude-token-monitor/ctm/internal/gen"
)

// tokens is the part of a daily report both tools print: token counts by
// kind and the cost, which is shown but never compared (the tools price
// long context and web search differently).
type tokens struct {
	Input         int64   `json:"input_tokens"`
	Output        int64   `json:"output_tokens"`
	CacheCreation int64   `json:"cache_creation_tokens"`
	CacheRead     int64   `json:"cache_read_tokens"`
	Total         int64   `json:"total_tokens"`
	CostUSD       float64 `json:"cost_usd"`
}

// daily is a daily report reduced to what the benchmark compares.
type daily struct {
	Days   map[string]tokens `json:"days"`
	Totals tokens            `json:"totals"`
}

// parseCTM reads `ctm daily --json`:
// {"daily":[{"date", "input_tokens", ...}], "totals":{...}} (DESIGN.md §4).
func parseCTM(b []byte) (daily, error) {
	var doc struct {
		Daily []struct {
			Date string `json:"date"`
			tokens
		} `json:"daily"`
		Totals *tokens `json:"totals"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return daily{}, fmt.Errorf("parse ctm daily JSON (%s): %w", preview(b), err)
	}
	if doc.Totals == nil {
		return daily{}, fmt.Errorf("parse ctm daily JSON (%s): no totals", preview(b))
	}
	d := daily{Days: map[string]tokens{}, Totals: *doc.Totals}
	for _, day := range doc.Daily {
		d.Days[day.Date] = day.tokens
	}
	return d, nil
}

// ccusageTokens is ccusage's camelCase spelling of the same fields.
type ccusageTokens struct {
	Input         int64   `json:"inputTokens"`
	Output        int64   `json:"outputTokens"`
	CacheCreation int64   `json:"cacheCreationTokens"`
	CacheRead     int64   `json:"cacheReadTokens"`
	Total         int64   `json:"totalTokens"`
	Cost          float64 `json:"totalCost"`
}

func (c ccusageTokens) tokens() tokens {
	return tokens{Input: c.Input, Output: c.Output, CacheCreation: c.CacheCreation, CacheRead: c.CacheRead, Total: c.Total, CostUSD: c.Cost}
}

// parseCCUsage reads `ccusage claude daily --json`:
// {"daily":[{"date", "inputTokens", ...}], "totals":{...}}.
func parseCCUsage(b []byte) (daily, error) {
	var doc struct {
		Daily []struct {
			Date string `json:"date"`
			ccusageTokens
		} `json:"daily"`
		Totals *ccusageTokens `json:"totals"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return daily{}, fmt.Errorf("parse ccusage daily JSON (%s): %w", preview(b), err)
	}
	if doc.Totals == nil {
		return daily{}, fmt.Errorf("parse ccusage daily JSON (%s): no totals", preview(b))
	}
	d := daily{Days: map[string]tokens{}, Totals: doc.Totals.tokens()}
	for _, day := range doc.Daily {
		d.Days[day.Date] = day.ccusageTokens.tokens()
	}
	return d, nil
}

// manifestTokens turns the generator's exact totals into the compared shape.
func manifestTokens(m *gen.Manifest) tokens {
	t := m.Totals
	return tokens{Input: t.Input, Output: t.Output, CacheCreation: t.CacheCreation(), CacheRead: t.CacheRead, Total: t.Total()}
}

func preview(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 120 {
		return fmt.Sprintf("%q...", b[:120])
	}
	return fmt.Sprintf("%q", b)
}

// tokenDiffs lists the token fields on which a and b disagree, as
// "field: a vs b (b-a)".
func tokenDiffs(a, b tokens) []string {
	var out []string
	for _, f := range []struct {
		name string
		a, b int64
	}{
		{"input", a.Input, b.Input},
		{"output", a.Output, b.Output},
		{"cache_creation", a.CacheCreation, b.CacheCreation},
		{"cache_read", a.CacheRead, b.CacheRead},
		{"total", a.Total, b.Total},
	} {
		if f.a != f.b {
			out = append(out, fmt.Sprintf("%s: %d vs %d (%+d)", f.name, f.a, f.b, f.b-f.a))
		}
	}
	return out
}

// compareDaily lists every difference in token counts between two daily
// reports, totals first, then by date. aName and bName label the sides.
func compareDaily(aName string, a daily, bName string, b daily) []string {
	var out []string
	for _, d := range tokenDiffs(a.Totals, b.Totals) {
		out = append(out, fmt.Sprintf("totals %s (%s vs %s)", d, aName, bName))
	}
	dates := map[string]bool{}
	for k := range a.Days {
		dates[k] = true
	}
	for k := range b.Days {
		dates[k] = true
	}
	sorted := make([]string, 0, len(dates))
	for k := range dates {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, date := range sorted {
		da, inA := a.Days[date]
		db, inB := b.Days[date]
		switch {
		case !inA:
			out = append(out, fmt.Sprintf("%s: only in %s (%d tokens)", date, bName, db.Total))
		case !inB:
			out = append(out, fmt.Sprintf("%s: only in %s (%d tokens)", date, aName, da.Total))
		default:
			for _, d := range tokenDiffs(da, db) {
				out = append(out, fmt.Sprintf("%s %s (%s vs %s)", date, d, aName, bName))
			}
		}
	}
	return out
}
