package pricing

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// reflectEncode is encode as encoding/json makes it from fileJSON: the
// bytes encode must write, since the fingerprints stored in databases
// are hashes of them.
func reflectEncode(t *Table) ([]byte, error) {
	num := func(m micros) *json.Number { n := m.number(); return &n }
	rates := func(r Rates) ratesJSON {
		return ratesJSON{num(r.Input), num(r.Output), num(r.CacheWrite5m), num(r.CacheWrite1h), num(r.CacheRead)}
	}
	f := fileJSON{
		Format: 2, AsOf: t.AsOf, Source: t.Source,
		WebSearchPer1K: num(t.webSearch), WebFetchPer1K: num(t.webFetch), Batch: num(t.batch),
		Models: map[string]*modelJSON{},
	}
	for _, m := range t.models {
		e := &modelJSON{DisplayName: m.DisplayName, Source: m.Source, Aliases: m.Aliases}
		if m.Fast != 0 {
			e.Fast = num(m.Fast)
		}
		if len(m.Residency) > 0 {
			e.Residency = map[string]json.Number{}
			for geo, v := range m.Residency {
				e.Residency[geo] = v.number()
			}
		}
		for _, p := range m.Periods {
			pj := &periodJSON{ratesJSON: rates(p.Base)}
			if !p.From.IsZero() {
				pj.From = p.From.Format(time.DateOnly)
			}
			if !p.Until.IsZero() {
				pj.Until = p.Until.Format(time.DateOnly)
			}
			for _, tr := range p.Tiers {
				pj.Tiers = append(pj.Tiers, &tierJSON{Above: tr.Above, ratesJSON: rates(tr.Rates)})
			}
			e.Prices = append(e.Prices, pj)
		}
		if len(e.Prices) == 1 {
			e.periodJSON, e.Prices = *e.Prices[0], nil
		}
		f.Models[m.ID] = e
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func TestEncodeIsWhatReflectionWrites(t *testing.T) {
	rates := `"input": 3, "output": 15.5, "cache_write_5m": 3.75, "cache_write_1h": 6, "cache_read": 0.3`
	user := writeFile(t, `{"format": 2, "source": "a <test> & \"quotes\"", "models": {
		"claude-test-1": {"display_name": "Test\u2028One", "aliases": ["claude-test-one", "claude-t1"], "fast": 6,
			"residency": {"us": 1.1, "eu": 1.25},
			"prices": [{"until": "2026-01-01", `+rates+`, "tiers": [{"above": 200000, `+rates+`}, {"above": 400000, `+rates+`}]},
				{"from": "2026-01-01", `+rates+`}]},
		"claude-test-2": {`+rates+`, "tiers": [{"above": 1, `+rates+`}]}}}`)
	for _, tab := range []*Table{mustLoad(t, ""), mustLoad(t, user)} {
		got, err := tab.encode()
		if err != nil {
			t.Fatal(err)
		}
		want, err := reflectEncode(tab)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encode differs from encoding/json:\n got %s\nwant %s", got, want)
		}
		if !bytes.Contains(got, []byte(`"tiers"`)) || !bytes.Contains(got, []byte(`"prices"`)) {
			t.Fatal("the tables compared lack tiers or dated prices")
		}
	}
}
