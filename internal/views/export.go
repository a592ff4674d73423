package views

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// ExportQuery selects an export. Empty fields take their defaults.
type ExportQuery struct {
	// Format is csv (the default) or json.
	Format string
	// StartDate and EndDate are an inclusive range of YYYY-MM-DD days;
	// the default is the last 30 days (see DateSpan).
	StartDate, EndDate string
	// Granularity is day (the default) or hour.
	Granularity string
	// Fields are the columns, in order; none means all of them (model
	// only with the model breakdown).
	Fields []string
	// Breakdown is none (the default) or model: one row per model.
	Breakdown string
}

// ExportRecord is one exported row; only the requested fields are set.
// With granularity hour, date is the local hour "YYYY-MM-DDTHH".
type ExportRecord struct {
	Date                  *string      `json:"date,omitempty"`
	Model                 *string      `json:"model,omitempty"`
	InputTokens           *int64       `json:"input_tokens,omitempty"`
	OutputTokens          *int64       `json:"output_tokens,omitempty"`
	CacheCreationTokens   *int64       `json:"cache_creation_tokens,omitempty"`
	CacheCreation5mTokens *int64       `json:"cache_creation_5m_tokens,omitempty"`
	CacheCreation1hTokens *int64       `json:"cache_creation_1h_tokens,omitempty"`
	CacheReadTokens       *int64       `json:"cache_read_tokens,omitempty"`
	TotalTokens           *int64       `json:"total_tokens,omitempty"`
	WebSearchRequests     *int64       `json:"web_search_requests,omitempty"`
	CostUSD               *usage.Money `json:"cost_usd,omitempty"`
	CacheHitRate          *float64     `json:"cache_hit_rate,omitempty"`
	Entries               *int64       `json:"entries,omitempty"`
	SessionCount          *int64       `json:"session_count,omitempty"`
}

// DateRange is the inclusive range of an export.
type DateRange struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// ExportSummary sums an export.
type ExportSummary struct {
	RecordCount    int             `json:"record_count"`
	Totals         usage.Aggregate `json:"totals"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// Export is an export: the JSON document (this struct), its CSV form and
// its file name.
type Export struct {
	Format      string         `json:"format" enum:"csv,json"`
	Granularity string         `json:"granularity" enum:"day,hour"`
	Breakdown   string         `json:"breakdown" enum:"none,model"`
	Timezone    string         `json:"timezone"`
	GeneratedAt time.Time      `json:"generated_at"`
	DateRange   DateRange      `json:"date_range"`
	Fields      []string       `json:"fields"`
	Records     []ExportRecord `json:"records"`
	Summary     ExportSummary  `json:"summary"`

	rows   []exportRow
	fields []exportField
}

// exportRow is one row's complete values before field selection.
type exportRow struct {
	label, model string
	agg          usage.Aggregate
	sessions     int64
}

// exportField is one selectable export column.
type exportField struct {
	name string
	set  func(rec *ExportRecord, row *exportRow)
	text func(row *exportRow) string
}

func ptr[T any](v T) *T { return &v }

func intText(v int64) string { return strconv.FormatInt(v, 10) }

func floatText(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// exportFields are the known fields, in column order.
var exportFields = []exportField{
	{"date", func(e *ExportRecord, r *exportRow) { e.Date = ptr(r.label) }, func(r *exportRow) string { return r.label }},
	{"model", func(e *ExportRecord, r *exportRow) { e.Model = ptr(r.model) }, func(r *exportRow) string { return csvSafe(r.model) }},
	{"input_tokens", func(e *ExportRecord, r *exportRow) { e.InputTokens = ptr(r.agg.Input) }, func(r *exportRow) string { return intText(r.agg.Input) }},
	{"output_tokens", func(e *ExportRecord, r *exportRow) { e.OutputTokens = ptr(r.agg.Output) }, func(r *exportRow) string { return intText(r.agg.Output) }},
	{"cache_creation_tokens", func(e *ExportRecord, r *exportRow) { e.CacheCreationTokens = ptr(r.agg.CacheCreationTokens) }, func(r *exportRow) string { return intText(r.agg.CacheCreationTokens) }},
	{"cache_creation_5m_tokens", func(e *ExportRecord, r *exportRow) { e.CacheCreation5mTokens = ptr(r.agg.CacheCreation5m) }, func(r *exportRow) string { return intText(r.agg.CacheCreation5m) }},
	{"cache_creation_1h_tokens", func(e *ExportRecord, r *exportRow) { e.CacheCreation1hTokens = ptr(r.agg.CacheCreation1h) }, func(r *exportRow) string { return intText(r.agg.CacheCreation1h) }},
	{"cache_read_tokens", func(e *ExportRecord, r *exportRow) { e.CacheReadTokens = ptr(r.agg.CacheRead) }, func(r *exportRow) string { return intText(r.agg.CacheRead) }},
	{"total_tokens", func(e *ExportRecord, r *exportRow) { e.TotalTokens = ptr(r.agg.TotalTokens) }, func(r *exportRow) string { return intText(r.agg.TotalTokens) }},
	{"web_search_requests", func(e *ExportRecord, r *exportRow) { e.WebSearchRequests = ptr(r.agg.WebSearchRequests) }, func(r *exportRow) string { return intText(r.agg.WebSearchRequests) }},
	{"cost_usd", func(e *ExportRecord, r *exportRow) { e.CostUSD = ptr(r.agg.CostUSD) }, func(r *exportRow) string { return r.agg.CostUSD.String() }},
	{"cache_hit_rate", func(e *ExportRecord, r *exportRow) { e.CacheHitRate = ptr(r.agg.CacheHitRate) }, func(r *exportRow) string { return floatText(r.agg.CacheHitRate) }},
	{"entries", func(e *ExportRecord, r *exportRow) { e.Entries = ptr(r.agg.Entries) }, func(r *exportRow) string { return intText(r.agg.Entries) }},
	{"session_count", func(e *ExportRecord, r *exportRow) { e.SessionCount = ptr(r.sessions) }, func(r *exportRow) string { return intText(r.sessions) }},
}

// ExportFieldNames lists the known export fields, in column order.
func ExportFieldNames() string {
	names := make([]string, len(exportFields))
	for i, f := range exportFields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// csvSafe keeps a spreadsheet from evaluating a text cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Export returns the export q selects. Bad input is EINVALID naming the
// field: format, granularity, breakdown, fields, start_date or end_date,
// checked in that order.
func (v *Views) Export(ctx context.Context, q ExportQuery) (*Export, error) {
	if q.Format == "" {
		q.Format = "csv"
	}
	if q.Format != "csv" && q.Format != "json" {
		return nil, usage.Errorf(usage.EINVALID, "format: %q is not one of csv, json", q.Format)
	}
	if q.Granularity == "" {
		q.Granularity = "day"
	}
	if q.Granularity != "day" && q.Granularity != "hour" {
		return nil, usage.Errorf(usage.EINVALID, "granularity: %q is not one of day, hour", q.Granularity)
	}
	if q.Breakdown == "" {
		q.Breakdown = "none"
	}
	if q.Breakdown != "none" && q.Breakdown != "model" {
		return nil, usage.Errorf(usage.EINVALID, "breakdown: %q is not one of none, model", q.Breakdown)
	}
	byModel := q.Breakdown == "model"
	fields, err := selectFields(q.Fields, byModel)
	if err != nil {
		return nil, err
	}
	sp, err := v.DateSpan(q.StartDate, q.EndDate, 30)
	if err != nil {
		return nil, err
	}
	period := usage.Period(q.Granularity)
	rows, rep, err := v.exportRows(ctx, sp, period, byModel)
	if err != nil {
		return nil, err
	}
	e := &Export{
		Format:      q.Format,
		Granularity: q.Granularity,
		Breakdown:   q.Breakdown,
		Timezone:    v.loc().String(),
		GeneratedAt: v.now().In(v.loc()),
		DateRange:   DateRange{Start: sp.StartDate, End: sp.EndDate},
		Records:     make([]ExportRecord, 0, len(rows)),
		Summary: ExportSummary{
			RecordCount:    len(rows),
			Totals:         rep.Totals.Aggregate,
			UnpricedModels: nonNil(rep.Unpriced),
		},
		rows:   rows,
		fields: fields,
	}
	for _, f := range fields {
		e.Fields = append(e.Fields, f.name)
	}
	for i := range rows {
		var rec ExportRecord
		for _, f := range fields {
			f.set(&rec, &rows[i])
		}
		e.Records = append(e.Records, rec)
	}
	return e, nil
}

// FileName is the name a download of the export should get.
func (e *Export) FileName() string {
	name := fmt.Sprintf("ctm-usage-%s-to-%s", e.DateRange.Start, e.DateRange.End)
	if e.Granularity == string(usage.Hour) {
		name += "-hourly"
	}
	if e.Breakdown == "model" {
		name += "-by-model"
	}
	return name + "." + e.Format
}

// CSV returns the export as CSV: a header line, then one line per row.
func (e *Export) CSV() ([]byte, error) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	line := make([]string, len(e.fields))
	for i, f := range e.fields {
		line[i] = f.name
	}
	_ = cw.Write(line) // writes to a bytes.Buffer; errors surface in cw.Error
	for i := range e.rows {
		for j, f := range e.fields {
			line[j] = f.text(&e.rows[i])
		}
		_ = cw.Write(line)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, fmt.Errorf("write csv: %w", err)
	}
	return buf.Bytes(), nil
}

// selectFields validates the requested fields; none means all of them
// (model only with the model breakdown).
func selectFields(names []string, breakdown bool) ([]exportField, error) {
	if len(names) == 0 {
		var out []exportField
		for _, f := range exportFields {
			if f.name != "model" || breakdown {
				out = append(out, f)
			}
		}
		return out, nil
	}
	var out []exportField
	seen := map[string]bool{}
	for _, n := range names {
		i := -1
		for j, f := range exportFields {
			if f.name == n {
				i = j
			}
		}
		if i < 0 {
			return nil, usage.Errorf(usage.EINVALID, "fields: %q is not one of %s", n, ExportFieldNames())
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, exportFields[i])
		}
	}
	return out, nil
}

// exportRows cuts the span into periods (and models) with their session
// counts. Periods without records are left out.
func (v *Views) exportRows(ctx context.Context, sp Span, p usage.Period, breakdown bool) ([]exportRow, usage.Report, error) {
	rep, err := v.rollup(ctx, sp.Filter(), usage.ByQuarterHour, p.KeyFunc(v.loc()))
	if err != nil {
		return nil, usage.Report{}, err
	}
	recs, err := v.Store.Records(ctx, sp.Filter(), usage.Page{})
	if err != nil {
		return nil, usage.Report{}, fmt.Errorf("records: %w", err)
	}
	type key struct{ label, model, session string }
	seen := map[key]bool{}
	counts := map[[2]string]int64{}
	for i := range recs {
		label := p.Label(recs[i].Timestamp, v.loc())
		for _, model := range []string{"", recs[i].Model} {
			k := key{label, model, recs[i].SessionID}
			if !seen[k] {
				seen[k] = true
				counts[[2]string{label, model}]++
			}
		}
	}
	var rows []exportRow
	for _, g := range rep.Groups {
		if !breakdown {
			rows = append(rows, exportRow{label: g.Key, model: "all", agg: g.Aggregate, sessions: counts[[2]string{g.Key, ""}]})
			continue
		}
		for _, m := range g.Models {
			rows = append(rows, exportRow{label: g.Key, model: m.Model, agg: m.Aggregate, sessions: counts[[2]string{g.Key, m.Model}]})
		}
	}
	return rows, rep, nil
}
