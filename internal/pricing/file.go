package pricing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/jsontext"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// The JSON format of prices.json, of a refreshed copy and of PRICING_FILE.
// Every figure is a JSON number read exactly (see micros). A model entry
// holds its rates inline when they never changed, or a list of dated
// "prices" when they did; both forms may carry tiers.

// fileJSON is a whole price file.
type fileJSON struct {
	// Format is 2; files of the first release (no format, no as_of,
	// long_context instead of tiers) are still read.
	Format int    `json:"format,omitempty"`
	AsOf   string `json:"as_of,omitempty"`
	Source string `json:"source,omitempty"`
	// WebSearchPer1K and WebFetchPer1K are USD per 1,000 server tool
	// requests; Batch multiplies every rate of a batch request.
	WebSearchPer1K *json.Number          `json:"web_search_per_1k,omitempty"`
	WebFetchPer1K  *json.Number          `json:"web_fetch_per_1k,omitempty"`
	Batch          *json.Number          `json:"batch,omitempty"`
	Models         map[string]*modelJSON `json:"models"`
}

// modelJSON is one model's entry.
type modelJSON struct {
	DisplayName string   `json:"display_name,omitempty"`
	Source      string   `json:"source,omitempty"`
	Aliases     []string `json:"aliases,omitempty"`
	// Fast multiplies every rate of a request served in fast mode; a
	// model without it has no fast mode and is billed at its usual rates.
	Fast *json.Number `json:"fast,omitempty"`
	// Residency maps usage.inference_geo values to the multiplier of
	// every rate; values not listed cost 1x.
	Residency map[string]json.Number `json:"residency,omitempty"`
	Prices    []*periodJSON          `json:"prices,omitempty"`
	periodJSON
	// LongContext is the first release's form of one tier.
	LongContext *legacyLongContext `json:"long_context,omitempty"`
}

// periodJSON is the rates of a model over [from, until): dates are UTC
// days, YYYY-MM-DD; an absent bound is open.
type periodJSON struct {
	From  string `json:"from,omitempty"`
	Until string `json:"until,omitempty"`
	ratesJSON
	// Tiers bill a whole request at other rates once its prompt (input,
	// cache writes and cache reads) is above a size.
	Tiers []*tierJSON `json:"tiers,omitempty"`
}

// ratesJSON is USD per million tokens of each kind.
type ratesJSON struct {
	Input        *json.Number `json:"input,omitempty"`
	Output       *json.Number `json:"output,omitempty"`
	CacheWrite5m *json.Number `json:"cache_write_5m,omitempty"`
	CacheWrite1h *json.Number `json:"cache_write_1h,omitempty"`
	CacheRead    *json.Number `json:"cache_read,omitempty"`
}

type tierJSON struct {
	Above int64 `json:"above"`
	ratesJSON
}

type legacyLongContext struct {
	Threshold int64 `json:"threshold"`
	ratesJSON
}

// decodeFile parses a price file strictly: unknown fields, trailing data
// and a body that is not an object are errors that say where.
func decodeFile(data []byte) (*fileJSON, error) {
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, decodeError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return &f, nil
}

// decodeError adds the line number to JSON syntax and type errors, which
// otherwise only carry a byte offset.
func decodeError(data []byte, err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		offset int64 = -1
	)
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	case errors.Is(err, io.EOF):
		return errors.New("empty file, want a JSON object")
	}
	if offset < 0 {
		return fmt.Errorf("bad JSON: %w", err)
	}
	line := 1 + bytes.Count(data[:min(offset, int64(len(data)))], []byte("\n"))
	return fmt.Errorf("bad JSON at line %d: %w", line, err)
}

// parseDay reads a YYYY-MM-DD date as midnight UTC.
func parseDay(field, s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return t, fmt.Errorf("%s %q is not a valid YYYY-MM-DD date", field, s)
	}
	return t, nil
}

func (r *ratesJSON) empty() bool {
	return r.Input == nil && r.Output == nil && r.CacheWrite5m == nil && r.CacheWrite1h == nil && r.CacheRead == nil
}

// rates validates and converts r; every field is required.
func (r *ratesJSON) rates(prefix string) (Rates, error) {
	var out Rates
	for _, f := range []struct {
		name string
		in   *json.Number
		out  *micros
	}{
		{"input", r.Input, &out.Input},
		{"output", r.Output, &out.Output},
		{"cache_write_5m", r.CacheWrite5m, &out.CacheWrite5m},
		{"cache_write_1h", r.CacheWrite1h, &out.CacheWrite1h},
		{"cache_read", r.CacheRead, &out.CacheRead},
	} {
		if f.in == nil {
			return out, fmt.Errorf("%s%s %w", prefix, f.name, errMissing)
		}
		v, err := parseMicros(*f.in)
		if err != nil {
			return out, fmt.Errorf("%s%s: %w", prefix, f.name, err)
		}
		*f.out = v
	}
	return out, nil
}

// multiplier reads a rate multiplier: positive and at most 100.
func multiplier(name string, n json.Number) (micros, error) {
	v, err := parseMicros(n)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if v == 0 || v > 100*oneMicros {
		return 0, fmt.Errorf("%s %s must be above 0 and at most 100", name, n)
	}
	return v, nil
}

// model validates one entry and converts it; id is already normalised.
func (m *modelJSON) model(id string) (*Model, error) {
	out := &Model{ID: id, DisplayName: m.DisplayName, Source: m.Source, Residency: map[string]micros{}}
	for _, a := range m.Aliases {
		n := Normalize(a)
		if n == "" {
			return nil, fmt.Errorf("alias %q is empty", a)
		}
		out.Aliases = append(out.Aliases, n)
	}
	if m.Fast != nil {
		v, err := multiplier("fast", *m.Fast)
		if err != nil {
			return nil, err
		}
		out.Fast = v
	}
	for geo, n := range m.Residency {
		v, err := multiplier("residency."+geo, n)
		if err != nil {
			return nil, err
		}
		out.Residency[strings.ToLower(geo)] = v
	}
	periods := m.Prices
	inline := m.periodJSON
	if m.LongContext != nil {
		inline.Tiers = append(inline.Tiers, &tierJSON{Above: m.LongContext.Threshold, ratesJSON: m.LongContext.ratesJSON})
	}
	switch {
	case len(periods) > 0 && (!inline.empty() || len(inline.Tiers) > 0 || inline.From != "" || inline.Until != ""):
		return nil, errors.New(`give the rates either inline or as a list of "prices", not both`)
	case len(periods) == 0:
		periods = []*periodJSON{&inline}
	}
	for i, p := range periods {
		name := "prices[" + fmt.Sprint(i) + "]."
		if len(m.Prices) == 0 {
			name = ""
		}
		per, err := p.period(name)
		if err != nil {
			return nil, err
		}
		out.Periods = append(out.Periods, per)
	}
	if err := checkPeriods(out.Periods); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *periodJSON) period(prefix string) (Period, error) {
	var out Period
	var err error
	if p.From != "" {
		if out.From, err = parseDay(prefix+"from", p.From); err != nil {
			return out, err
		}
	}
	if p.Until != "" {
		if out.Until, err = parseDay(prefix+"until", p.Until); err != nil {
			return out, err
		}
	}
	if out.Base, err = p.rates(prefix); err != nil {
		return out, err
	}
	for i, t := range p.Tiers {
		name := fmt.Sprintf("%stiers[%d].", prefix, i)
		if t.Above <= 0 {
			return out, fmt.Errorf("%sabove %d must be a positive number of tokens", name, t.Above)
		}
		r, err := t.rates(name)
		if err != nil {
			return out, err
		}
		out.Tiers = append(out.Tiers, Tier{Above: t.Above, Rates: r})
	}
	slices.SortFunc(out.Tiers, func(a, b Tier) int { return int(a.Above - b.Above) })
	for i := 1; i < len(out.Tiers); i++ {
		if out.Tiers[i].Above == out.Tiers[i-1].Above {
			return out, fmt.Errorf("%stiers: two tiers above %d", prefix, out.Tiers[i].Above)
		}
	}
	return out, nil
}

// checkPeriods requires periods to follow each other without gap or
// overlap and to cover all time, so that every record has exactly one
// price: the first open at the start, each "until" equal to the next
// "from", the last open at the end.
func checkPeriods(ps []Period) error {
	if !ps[0].From.IsZero() {
		return errors.New(`the first of "prices" must have no "from": every date needs a price`)
	}
	if !ps[len(ps)-1].Until.IsZero() {
		return errors.New(`the last of "prices" must have no "until": every date needs a price`)
	}
	for i := 1; i < len(ps); i++ {
		prev, cur := ps[i-1], ps[i]
		if prev.Until.IsZero() || !prev.Until.Equal(cur.From) {
			return fmt.Errorf(`prices[%d] must start ("from") on the day prices[%d] ends ("until")`, i, i-1)
		}
		if !cur.Until.IsZero() && !cur.From.Before(cur.Until) {
			return fmt.Errorf(`prices[%d] ends before it starts`, i)
		}
	}
	return nil
}

// encode returns t in the file format, with every figure exact, models
// sorted by id and fields in a fixed order: `ctm prices --json` prints
// it, PRICING_FILE accepts it, and its hash is the table's fingerprint.
// The bytes are what json.Encoder with a two-space indent makes of the
// fileJSON of t (file_test.go compares them); writing them member by
// member was half the time of loading the table, which every process
// does.
func (t *Table) encode() ([]byte, error) {
	w := jsontext.Writer{Indent: "  "}
	num := func(name string, m micros) {
		w.Key(name)
		w.Raw(string(m.number()))
	}
	rates := func(r Rates) {
		num("input", r.Input)
		num("output", r.Output)
		num("cache_write_5m", r.CacheWrite5m)
		num("cache_write_1h", r.CacheWrite1h)
		num("cache_read", r.CacheRead)
	}
	text := func(name, v string) {
		if v != "" {
			w.Key(name)
			w.String(v)
		}
	}
	period := func(p *Period) {
		if !p.From.IsZero() {
			text("from", p.From.Format(time.DateOnly))
		}
		if !p.Until.IsZero() {
			text("until", p.Until.Format(time.DateOnly))
		}
		rates(p.Base)
		if len(p.Tiers) > 0 {
			w.Key("tiers")
			w.Open('[')
			for _, tr := range p.Tiers {
				w.Elem()
				w.Open('{')
				w.Key("above")
				w.Int(tr.Above)
				rates(tr.Rates)
				w.Close('}')
			}
			w.Close(']')
		}
	}
	w.Open('{')
	w.Key("format")
	w.Int(2)
	text("as_of", t.AsOf)
	text("source", t.Source)
	num("web_search_per_1k", t.webSearch)
	num("web_fetch_per_1k", t.webFetch)
	num("batch", t.batch)
	w.Key("models")
	w.Open('{')
	for _, id := range slices.Sorted(maps.Keys(t.models)) {
		m := t.models[id]
		w.Key(id)
		w.Open('{')
		text("display_name", m.DisplayName)
		text("source", m.Source)
		if len(m.Aliases) > 0 {
			w.Key("aliases")
			w.Open('[')
			for _, a := range m.Aliases {
				w.Elem()
				w.String(a)
			}
			w.Close(']')
		}
		if m.Fast != 0 {
			num("fast", m.Fast)
		}
		if len(m.Residency) > 0 {
			w.Key("residency")
			w.Open('{')
			for _, geo := range slices.Sorted(maps.Keys(m.Residency)) {
				num(geo, m.Residency[geo])
			}
			w.Close('}')
		}
		if len(m.Periods) == 1 {
			period(&m.Periods[0])
		} else if len(m.Periods) > 1 {
			w.Key("prices")
			w.Open('[')
			for i := range m.Periods {
				w.Elem()
				w.Open('{')
				period(&m.Periods[i])
				w.Close('}')
			}
			w.Close(']')
		}
		w.Close('}')
	}
	w.Close('}')
	w.Close('}')
	return append(w.B, '\n'), nil
}
