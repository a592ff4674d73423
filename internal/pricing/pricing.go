// Package pricing prices Claude API responses from one dated table of
// Anthropic's list prices and billing rules (prices.json, embedded),
// optionally replaced by a newer refreshed copy and extended or overridden
// by a user file. The code holds no price: a price change is a data change.
//
// A response is priced by its own timestamp (a model's rates can change on
// a date), its prompt size (a tier bills the WHOLE request at other rates,
// never per field or marginally), fast mode, data residency and batch.
// Each of those is a multiplier of the tier's rates; they stack. Figures
// are exact decimals, rates become integer picodollars per token, and a
// response's cost is rounded once, half to even, to usage.Money.
package pricing

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// UnpricedHint tells a user what to do about models without a price; every
// report that names unpriced models says it.
const UnpricedHint = "run `ctm prices update` for the newest prices, or add them to PRICING_FILE (`ctm prices --json` prints the format)"

// embedded is the built-in price table.
//
//go:embed prices.json
var embedded []byte

// Embedded returns the bytes of the built-in price file.
func Embedded() []byte { return slices.Clone(embedded) }

// Rates are the prices of each kind of token, in micros of USD per
// million tokens (= picodollars per token).
type Rates struct {
	Input, Output, CacheWrite5m, CacheWrite1h, CacheRead micros
}

// Tier is a set of rates for requests whose prompt is above a size.
type Tier struct {
	Above int64
	Rates Rates
}

// Period is a model's rates over [From, Until) in UTC; a zero bound is
// open.
type Period struct {
	From, Until time.Time
	Base        Rates
	Tiers       []Tier // ordered by Above

	eff [][]picos // see prepare
}

// rateSet returns the index of the rates that bill a whole request of the
// given prompt: 0 for the base rates, i+1 for Tiers[i], the highest tier
// the prompt is above.
func (p *Period) rateSet(prompt int64) int {
	for i := len(p.Tiers) - 1; i >= 0; i-- {
		if prompt > p.Tiers[i].Above {
			return i + 1
		}
	}
	return 0
}

// picos is the rate of each kind of token in picodollars, in the order
// input, output, 5-minute write, 1-hour write, read.
type picos [5]int64

// prepare computes the rates of every combination of rate set and
// modifiers once, so that pricing a record is integer arithmetic only.
// eff[set][combo], with combo as Model.combo numbers it.
func (p *Period) prepare(m *Model, batch micros) {
	sets := append([]Rates{p.Base}, make([]Rates, len(p.Tiers))...)
	for i, t := range p.Tiers {
		sets[i+1] = t.Rates
	}
	// A model without a fast rate bills fast requests at its usual rates:
	// combo never picks the fast half, so it is not computed.
	fasts := 1
	if m.Fast != 0 {
		fasts = 2
	}
	p.eff = make([][]picos, len(sets))
	for s, r := range sets {
		for fast := range fasts {
			for g := range len(m.geos) + 1 {
				for b := range 2 {
					var mults []micros
					if fast == 1 {
						mults = append(mults, m.Fast)
					}
					if g > 0 {
						mults = append(mults, m.Residency[m.geos[g-1]])
					}
					if b == 1 {
						mults = append(mults, batch)
					}
					p.eff[s] = append(p.eff[s], picos{
						scale(r.Input, mults...), scale(r.Output, mults...),
						scale(r.CacheWrite5m, mults...), scale(r.CacheWrite1h, mults...),
						scale(r.CacheRead, mults...),
					})
				}
			}
		}
	}
}

// Origin says where a model's entry came from.
type Origin string

// The origins of entries.
const (
	FromEmbedded  Origin = "embedded"
	FromRefreshed Origin = "refreshed"
	FromUserFile  Origin = "PRICING_FILE"
)

// Model is the price entry of one model id.
type Model struct {
	// ID is the normalised model id, e.g. "claude-opus-4-5".
	ID          string
	DisplayName string
	Source      string
	// Aliases are other normalised ids priced the same.
	Aliases []string
	// Fast is the multiplier of fast mode, 0 when the model has none.
	Fast micros
	// Residency maps inference_geo values to their multiplier.
	Residency map[string]micros
	// Periods cover all time in order.
	Periods []Period
	Origin  Origin

	geos []string // the keys of Residency, sorted
	// prepared builds the periods' rates (Period.eff) once.
	prepared func()
}

// combo numbers a combination of modifiers for Period.eff.
func (m *Model) combo(fast bool, geo string, batch bool) int {
	c := 0
	if fast && m.Fast != 0 {
		c = 2 * (len(m.geos) + 1)
	}
	if geo != "" {
		if i, ok := slices.BinarySearch(m.geos, geo); ok {
			c += 2 * (i + 1)
		}
	}
	if batch {
		c++
	}
	return c
}

func (m *Model) prepare(batch micros) {
	m.geos = slices.Sorted(maps.Keys(m.Residency))
	// The rates of each combination are built when the model is first
	// priced: the table holds some 30 models, a process prices a few,
	// and building them all was a fifth of loading the table, which
	// every process does.
	m.prepared = sync.OnceFunc(func() {
		for i := range m.Periods {
			m.Periods[i].prepare(m, batch)
		}
	})
}

// period returns the period that contains t.
func (m *Model) period(t time.Time) *Period {
	for i := len(m.Periods) - 1; i > 0; i-- {
		if !t.Before(m.Periods[i].From) {
			return &m.Periods[i]
		}
	}
	return &m.Periods[0]
}

// Table is a price table in force. It is immutable after Load and safe for
// concurrent use; it implements usage.Pricer.
type Table struct {
	AsOf   string
	Source string
	// webSearch and webFetch are USD micros per 1,000 requests; batch is
	// the multiplier of batch requests.
	webSearch, webFetch, batch micros

	models map[string]*Model
	// ids maps every id and alias to its model; order lists them longest
	// first, so the first match is the longest known id.
	ids   map[string]*Model
	order []string

	fingerprint string

	// lookups caches Lookup by raw model string; bounded, because model
	// strings come from data (and, in team mode, from other machines).
	mu      sync.RWMutex
	lookups map[string]*Model
}

var _ usage.Pricer = (*Table)(nil)

// maxLookups bounds Table.lookups.
const maxLookups = 4096

func newTable(asOf, source string, webSearch, webFetch, batch micros, models map[string]*Model) (*Table, error) {
	t := &Table{AsOf: asOf, Source: source, webSearch: webSearch, webFetch: webFetch, batch: batch,
		models: models, ids: map[string]*Model{}, lookups: map[string]*Model{}}
	for _, id := range slices.Sorted(maps.Keys(models)) {
		m := models[id]
		m.prepare(batch)
		for _, name := range append([]string{id}, m.Aliases...) {
			if other, dup := t.ids[name]; dup && other != m {
				return nil, usageErrorf("model %q: id %q is also %s", id, name, describe(other, name))
			}
			t.ids[name] = m
		}
	}
	t.order = slices.Collect(maps.Keys(t.ids))
	slices.SortFunc(t.order, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	data, err := t.encode()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	t.fingerprint = hex.EncodeToString(sum[:12])
	return t, nil
}

func describe(m *Model, name string) string {
	if m.ID == name {
		return "a model of its own"
	}
	return "an alias of " + m.ID
}

// Fingerprint identifies the table's content: two tables with the same
// fingerprint price every record the same. Stores keep it beside the costs
// they hold, to re-price all history when the table in force changes.
func (t *Table) Fingerprint() string { return t.fingerprint }

// Priced reports whether model has a price.
func (t *Table) Priced(model string) bool { return t.Lookup(model) != nil }

// Lookup returns the entry of model, or nil when it has none. The model
// string is normalised (see Normalize), then the longest known id or alias
// that it starts with wins, provided what follows it is only a date, a
// version tag or "latest" ("-20251101", "-v2", "-latest"): so
// claude-fable-5-20260601 is Fable 5, not Fable 5.2, and an unknown
// version such as claude-opus-5-7 has no price rather than Opus 5's.
func (t *Table) Lookup(model string) *Model {
	t.mu.RLock()
	m, ok := t.lookups[model]
	t.mu.RUnlock()
	if ok {
		return m
	}
	m = t.lookup(model)
	t.mu.Lock()
	if len(t.lookups) < maxLookups {
		t.lookups[model] = m
	}
	t.mu.Unlock()
	return m
}

func (t *Table) lookup(model string) *Model {
	n := Normalize(model)
	for _, id := range t.order {
		if rest, ok := strings.CutPrefix(n, id); ok && versionSuffix(rest) {
			return t.ids[id]
		}
	}
	return nil
}

// versionSuffix reports whether s, what follows a known id in a model
// string, only adds a snapshot date (8 digits), a version tag ("v" and
// digits) or "latest", each after a '-'.
func versionSuffix(s string) bool {
	if s == "" {
		return true
	}
	parts := strings.Split(s, "-")
	if parts[0] != "" {
		return false
	}
	for _, p := range parts[1:] {
		switch {
		case p == "latest":
		case len(p) == 8 && digits(p):
		case len(p) > 1 && p[0] == 'v' && digits(p[1:]):
		default:
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Models returns the table's entries sorted by id.
func (t *Table) Models() []*Model {
	out := make([]*Model, 0, len(t.models))
	for _, id := range slices.Sorted(maps.Keys(t.models)) {
		out = append(out, t.models[id])
	}
	return out
}

// DisplayName returns a human name for model, e.g. "Claude Opus 4.5", or
// model itself when it has no price or no display name.
func (t *Table) DisplayName(model string) string {
	if m := t.Lookup(model); m != nil && m.DisplayName != "" {
		return m.DisplayName
	}
	return model
}

// WebSearchPer1K returns the USD price of 1,000 web search requests.
func (t *Table) WebSearchPer1K() float64 { return float64(t.webSearch) / float64(oneMicros) }

// Price returns the cost of one response. Unknown models cost 0 and
// report priced == false.
func (t *Table) Price(r *usage.Record) (cost usage.Money, priced bool) {
	m := t.Lookup(r.Model)
	if m == nil {
		return 0, false
	}
	m.prepared()
	p := m.period(r.Timestamp)
	rates := &p.eff[p.rateSet(r.Prompt())][m.combo(r.Speed == "fast", r.InferenceGeo, r.ServiceTier == "batch")]
	var sum acc
	sum.add(r.Input, rates[0])
	sum.add(r.Output, rates[1])
	sum.add(r.CacheCreation5m, rates[2])
	sum.add(r.CacheCreation1h, rates[3])
	sum.add(r.CacheRead, rates[4])
	// Server tools are billed per request, whatever the tier or mode:
	// micros per 1,000 requests are picodollars per request times 1,000.
	sum.add(r.WebSearchRequests, int64(t.webSearch)*1000)
	sum.add(r.WebFetchRequests, int64(t.webFetch)*1000)
	return sum.money(), true
}

// acc is a 128-bit sum of picodollars, so that no count a transcript can
// hold overflows it.
type acc struct{ hi, lo uint64 }

// add adds n tokens at rate picodollars each; negative counts are 0
// (the parser clamps them; this keeps a hand-made record harmless).
func (a *acc) add(n, rate int64) {
	if n <= 0 || rate <= 0 {
		return
	}
	hi, lo := bits.Mul64(uint64(n), uint64(rate))
	var c uint64
	a.lo, c = bits.Add64(a.lo, lo, 0)
	a.hi += hi + c
}

// picosPerUnit is the number of picodollars in one usage.Money unit.
const picosPerUnit = 1e12 / usage.MoneyPerUSD

// money rounds the sum half to even to usage.Money, saturating.
func (a *acc) money() usage.Money {
	if a.hi >= picosPerUnit {
		return math.MaxInt64
	}
	q, r := bits.Div64(a.hi, a.lo, picosPerUnit)
	if 2*r > picosPerUnit || 2*r == picosPerUnit && q&1 == 1 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return usage.Money(q)
}

// Normalize turns a model string as logged by Claude Code or a provider
// into the form price ids use: lower case; without anything up to the
// last '/' ("anthropic/", "bedrock/", "vertex_ai/..."), a leading
// "[<region>.]anthropic." (Bedrock), a bracketed suffix ("[1m]") or a
// Bedrock version suffix ("-v1:0"); with '.', '@' and '_' replaced by '-'.
func Normalize(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	if i := strings.Index(m, "anthropic."); i >= 0 && isRegionPrefix(m[:i]) {
		m = m[i+len("anthropic."):]
	}
	if i := strings.IndexByte(m, '['); i >= 0 && strings.HasSuffix(m, "]") {
		m = m[:i]
	}
	if i := strings.LastIndex(m, "-v"); i >= 0 {
		if major, minor, ok := strings.Cut(m[i+2:], ":"); ok && digits(major) && digits(minor) {
			m = m[:i]
		}
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '@' || r == '_' {
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

// JSON returns the table in the price file format, with every figure
// exact and models sorted: what `ctm prices --json` prints and
// PRICING_FILE accepts.
func (t *Table) JSON() ([]byte, error) { return t.encode() }

// Row is one model's entry as people read it.
type Row struct {
	ID, DisplayName string
	Origin          Origin
	Source          string
	// Rates are the current USD per million tokens: input / output /
	// 5-minute write / 1-hour write / read.
	Rates string
	// Rules lists what else bills this model: dated rates, tiers, fast
	// mode, data residency.
	Rules []string
}

func (r Rates) String() string {
	return strings.Join([]string{string(r.Input.number()), string(r.Output.number()),
		string(r.CacheWrite5m.number()), string(r.CacheWrite1h.number()), string(r.CacheRead.number())}, " / ")
}

// Rows describes every entry, sorted by id, with the rates in force at
// now.
func (t *Table) Rows(now time.Time) []Row {
	var out []Row
	for _, m := range t.Models() {
		cur := m.period(now)
		row := Row{ID: m.ID, DisplayName: m.DisplayName, Origin: m.Origin, Source: m.Source, Rates: cur.Base.String()}
		for _, p := range m.Periods {
			span := ""
			switch {
			case len(m.Periods) == 1:
			case p.From.IsZero():
				span = "until " + p.Until.Format(time.DateOnly) + ": "
			case p.Until.IsZero():
				span = "from " + p.From.Format(time.DateOnly) + ": "
			default:
				span = p.From.Format(time.DateOnly) + " to " + p.Until.Format(time.DateOnly) + ": "
			}
			if span != "" && p.Base != cur.Base {
				row.Rules = append(row.Rules, span+p.Base.String())
			}
			for _, tr := range p.Tiers {
				row.Rules = append(row.Rules, span+"prompt above "+strconv.FormatInt(tr.Above, 10)+": "+tr.Rates.String()+" (whole request)")
			}
		}
		if m.Fast != 0 {
			row.Rules = append(row.Rules, "fast mode x"+string(m.Fast.number()))
		}
		for _, geo := range m.geos {
			row.Rules = append(row.Rules, "inference_geo "+geo+" x"+string(m.Residency[geo].number()))
		}
		out = append(out, row)
	}
	return out
}

// Extras describes the rules that apply to every model.
func (t *Table) Extras() []string {
	return []string{
		"web search: $" + string(t.webSearch.number()) + " per 1,000 requests",
		"web fetch: $" + string(t.webFetch.number()) + " per 1,000 requests",
		"batch (service_tier batch): x" + string(t.batch.number()) + " on every rate",
	}
}
