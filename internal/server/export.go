package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// exportRequest is the body of POST /export; GET /export takes the same
// names as query parameters, with fields as a comma list.
type exportRequest struct {
	Format      string   `json:"format,omitempty" enum:"csv,json"`
	StartDate   string   `json:"start_date,omitempty"`
	EndDate     string   `json:"end_date,omitempty"`
	Granularity string   `json:"granularity,omitempty" enum:"day,hour"`
	Fields      []string `json:"fields,omitempty"`
	Breakdown   string   `json:"breakdown,omitempty" enum:"none,model"`
}

// exportRecord is one exported row; only the requested fields are set.
// With granularity hour, date is the local hour "YYYY-MM-DDTHH".
type exportRecord struct {
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

// exportRow is one row's complete values before field selection.
type exportRow struct {
	label, model string
	agg          usage.Aggregate
	sessions     int64
}

// exportField is one selectable export column.
type exportField struct {
	name string
	set  func(rec *exportRecord, row *exportRow)
	text func(row *exportRow) string
}

func ptr[T any](v T) *T { return &v }

func intText(v int64) string { return strconv.FormatInt(v, 10) }

func floatText(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// exportFields are the known fields, in column order.
var exportFields = []exportField{
	{"date", func(e *exportRecord, r *exportRow) { e.Date = ptr(r.label) }, func(r *exportRow) string { return r.label }},
	{"model", func(e *exportRecord, r *exportRow) { e.Model = ptr(r.model) }, func(r *exportRow) string { return csvSafe(r.model) }},
	{"input_tokens", func(e *exportRecord, r *exportRow) { e.InputTokens = ptr(r.agg.Input) }, func(r *exportRow) string { return intText(r.agg.Input) }},
	{"output_tokens", func(e *exportRecord, r *exportRow) { e.OutputTokens = ptr(r.agg.Output) }, func(r *exportRow) string { return intText(r.agg.Output) }},
	{"cache_creation_tokens", func(e *exportRecord, r *exportRow) { e.CacheCreationTokens = ptr(r.agg.CacheCreationTokens) }, func(r *exportRow) string { return intText(r.agg.CacheCreationTokens) }},
	{"cache_creation_5m_tokens", func(e *exportRecord, r *exportRow) { e.CacheCreation5mTokens = ptr(r.agg.CacheCreation5m) }, func(r *exportRow) string { return intText(r.agg.CacheCreation5m) }},
	{"cache_creation_1h_tokens", func(e *exportRecord, r *exportRow) { e.CacheCreation1hTokens = ptr(r.agg.CacheCreation1h) }, func(r *exportRow) string { return intText(r.agg.CacheCreation1h) }},
	{"cache_read_tokens", func(e *exportRecord, r *exportRow) { e.CacheReadTokens = ptr(r.agg.CacheRead) }, func(r *exportRow) string { return intText(r.agg.CacheRead) }},
	{"total_tokens", func(e *exportRecord, r *exportRow) { e.TotalTokens = ptr(r.agg.TotalTokens) }, func(r *exportRow) string { return intText(r.agg.TotalTokens) }},
	{"web_search_requests", func(e *exportRecord, r *exportRow) { e.WebSearchRequests = ptr(r.agg.WebSearchRequests) }, func(r *exportRow) string { return intText(r.agg.WebSearchRequests) }},
	{"cost_usd", func(e *exportRecord, r *exportRow) { e.CostUSD = ptr(r.agg.CostUSD) }, func(r *exportRow) string { return r.agg.CostUSD.String() }},
	{"cache_hit_rate", func(e *exportRecord, r *exportRow) { e.CacheHitRate = ptr(r.agg.CacheHitRate) }, func(r *exportRow) string { return floatText(r.agg.CacheHitRate) }},
	{"entries", func(e *exportRecord, r *exportRow) { e.Entries = ptr(r.agg.Entries) }, func(r *exportRow) string { return intText(r.agg.Entries) }},
	{"session_count", func(e *exportRecord, r *exportRow) { e.SessionCount = ptr(r.sessions) }, func(r *exportRow) string { return intText(r.sessions) }},
}

// exportFieldNames lists the known fields for error messages.
func exportFieldNames() string {
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

// dateRange is the inclusive range of an export.
type dateRange struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// exportSummary sums an export.
type exportSummary struct {
	RecordCount    int             `json:"record_count"`
	Totals         usage.Aggregate `json:"totals"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// exportResponse is the JSON export, in the usual envelope.
type exportResponse struct {
	Format      string         `json:"format" enum:"csv,json"`
	Granularity string         `json:"granularity" enum:"day,hour"`
	Breakdown   string         `json:"breakdown" enum:"none,model"`
	Timezone    string         `json:"timezone"`
	GeneratedAt time.Time      `json:"generated_at"`
	DateRange   dateRange      `json:"date_range"`
	Fields      []string       `json:"fields"`
	Records     []exportRecord `json:"records"`
	Summary     exportSummary  `json:"summary"`
}

func (s *Server) handleExportGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := exportRequest{
		Format:      q.Get("format"),
		StartDate:   q.Get("start_date"),
		EndDate:     q.Get("end_date"),
		Granularity: q.Get("granularity"),
		Breakdown:   q.Get("breakdown"),
	}
	if v := q.Get("fields"); v != "" {
		for f := range strings.SplitSeq(v, ",") {
			req.Fields = append(req.Fields, strings.TrimSpace(f))
		}
	}
	s.export(w, r, req)
}

func (s *Server) handleExportPost(w http.ResponseWriter, r *http.Request) {
	var req exportRequest
	if err := decodeJSONBody(r.Body, &req); err != nil {
		writeError(w, r, err)
		return
	}
	s.export(w, r, req)
}

// decodeJSONBody decodes exactly one JSON object with no unknown fields.
func decodeJSONBody(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return invalid("body: request body exceeds %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return invalid("body: a JSON object is required")
	case err != nil:
		return invalid("body: malformed JSON: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, &tooBig) {
			return invalid("body: request body exceeds %d bytes", tooBig.Limit)
		}
		return invalid("body: unexpected data after the JSON object")
	}
	return nil
}

// jsonErrorText describes a decode error without echoing the body.
func jsonErrorText(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		// Describe the expected JSON kind; the Go type is an internal name.
		if typeErr.Field == "" {
			return fmt.Sprintf("the body must be a JSON object, not %s", typeErr.Value)
		}
		return fmt.Sprintf("field %s must be %s", typeErr.Field, jsonKind(typeErr.Type))
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return strings.TrimPrefix(msg, "json: ")
}

// jsonKind names the JSON value a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	default:
		return "an object"
	}
}

// export validates req and writes the CSV download or the JSON document.
func (s *Server) export(w http.ResponseWriter, r *http.Request, req exportRequest) {
	if req.Format == "" {
		req.Format = "csv"
	}
	if req.Format != "csv" && req.Format != "json" {
		writeError(w, r, invalid("format: %q is not one of csv, json", req.Format))
		return
	}
	if req.Granularity == "" {
		req.Granularity = "day"
	}
	if req.Granularity != "day" && req.Granularity != "hour" {
		writeError(w, r, invalid("granularity: %q is not one of day, hour", req.Granularity))
		return
	}
	if req.Breakdown == "" {
		req.Breakdown = "none"
	}
	if req.Breakdown != "none" && req.Breakdown != "model" {
		writeError(w, r, invalid("breakdown: %q is not one of none, model", req.Breakdown))
		return
	}
	fields, err := selectFields(req.Fields, req.Breakdown == "model")
	if err != nil {
		writeError(w, r, err)
		return
	}
	sp, err := s.dateSpan(req.StartDate, req.EndDate, 30)
	if err != nil {
		writeError(w, r, err)
		return
	}
	period := usage.Period(req.Granularity)
	rows, rep, err := s.exportRows(r, sp, period, req.Breakdown == "model")
	if err != nil {
		s.exportFailed(w, r, err)
		return
	}
	name := fmt.Sprintf("ctm-usage-%s-to-%s", sp.StartDate, sp.EndDate)
	if period == usage.Hour {
		name += "-hourly"
	}
	if req.Breakdown == "model" {
		name += "-by-model"
	}
	name += "." + req.Format
	if req.Format == "json" {
		resp := exportResponse{
			Format:      req.Format,
			Granularity: req.Granularity,
			Breakdown:   req.Breakdown,
			Timezone:    s.opts.Location.String(),
			GeneratedAt: s.opts.Now().In(s.opts.Location),
			DateRange:   dateRange{Start: sp.StartDate, End: sp.EndDate},
			Records:     make([]exportRecord, 0, len(rows)),
			Summary: exportSummary{
				RecordCount:    len(rows),
				Totals:         rep.Totals.Aggregate,
				UnpricedModels: unpriced(rep),
			},
		}
		for _, f := range fields {
			resp.Fields = append(resp.Fields, f.name)
		}
		for i := range rows {
			var rec exportRecord
			for _, f := range fields {
				f.set(&rec, &rows[i])
			}
			resp.Records = append(resp.Records, rec)
		}
		w.Header().Set("Content-Disposition", contentDisposition(name))
		writeJSON(w, r, resp)
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	line := make([]string, len(fields))
	for i, f := range fields {
		line[i] = f.name
	}
	_ = cw.Write(line) // writes to a bytes.Buffer; errors surface in cw.Error
	for i := range rows {
		for j, f := range fields {
			line[j] = f.text(&rows[i])
		}
		_ = cw.Write(line)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.exportFailed(w, r, fmt.Errorf("write csv: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	if len(rep.Unpriced) > 0 {
		// CSV has no room for notes; say which models were priced at 0.
		h.Set("X-Unpriced-Models", strings.Join(rep.Unpriced, ","))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

func contentDisposition(name string) string {
	return fmt.Sprintf("attachment; filename=%q", name)
}

func (s *Server) exportFailed(w http.ResponseWriter, r *http.Request, err error) {
	if usage.ErrorCode(err) != usage.EINTERNAL {
		writeError(w, r, err)
		return
	}
	loggerFrom(r.Context()).Error("export failed", slog.Any("error", err))
	writeErrorStatus(w, r, http.StatusInternalServerError, codeExportFailed, "export failed")
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
			return nil, invalid("fields: %q is not one of %s", n, exportFieldNames())
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
func (s *Server) exportRows(r *http.Request, sp span, p usage.Period, breakdown bool) ([]exportRow, usage.Report, error) {
	ctx := r.Context()
	rep, err := s.rollup(ctx, sp.Filter(), usage.ByQuarterHour, p.KeyFunc(s.opts.Location))
	if err != nil {
		return nil, usage.Report{}, err
	}
	recs, err := s.store.Records(ctx, sp.Filter(), usage.Page{})
	if err != nil {
		return nil, usage.Report{}, fmt.Errorf("records: %w", err)
	}
	type key struct{ label, model, session string }
	seen := map[key]bool{}
	counts := map[[2]string]int64{}
	for i := range recs {
		label := p.Label(recs[i].Timestamp, s.opts.Location)
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
