package server_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestExportCSV(t *testing.T) {
	h := newServer(t, nil).Handler()
	r := do(t, h, http.MethodGet, "/api/v1/export?format=csv&start_date=2026-01-01&end_date=2026-01-31&fields=date,total_tokens,cost_usd,session_count", nil)
	if r.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200: %s", r.Code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type = %q, want text/csv", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="ctm-usage-2026-01-01-to-2026-01-31.csv"` {
		t.Errorf("Content-Disposition = %q", cd)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil {
		t.Fatalf("parse csv: %v", err)
	}
	if !slices.Equal(rows[0], []string{"date", "total_tokens", "cost_usd", "session_count"}) {
		t.Errorf("header = %v", rows[0])
	}
	var wantDays []string
	for d := range fixture.expected.Daily {
		if strings.HasPrefix(d, "2026-01") {
			wantDays = append(wantDays, d)
		}
	}
	slices.Sort(wantDays)
	if len(rows)-1 != len(wantDays) {
		t.Fatalf("rows = %d, want %d (days with records)", len(rows)-1, len(wantDays))
	}
	sessions := sessionsPerDay()
	for i, row := range rows[1:] {
		d := wantDays[i]
		exp := fixture.expected.Daily[d]
		cost, _ := strconv.ParseFloat(row[2], 64)
		if row[0] != d || row[1] != strconv.FormatInt(exp.total(), 10) || !near(cost, exp.CostUSD) ||
			row[3] != strconv.Itoa(sessions[d]) {
			t.Errorf("row %v, want %s,%d,%v,%d", row, d, exp.total(), exp.CostUSD, sessions[d])
		}
	}
}

func TestExportJSON(t *testing.T) {
	h := newServer(t, nil).Handler()
	type exportJSON struct {
		Format    string                       `json:"format"`
		Fields    []string                     `json:"fields"`
		DateRange struct{ Start, End string }  `json:"date_range"`
		Records   []map[string]json.RawMessage `json:"records"`
		Summary   struct {
			RecordCount int `json:"record_count"`
			Totals      agg `json:"totals"`
		} `json:"summary"`
	}
	body := `{"format":"json","start_date":"2025-08-01","end_date":"2026-03-01","fields":["date","model","input_tokens","entries"],"breakdown":"model"}`
	r := do(t, h, http.MethodPost, "/api/v1/export", strings.NewReader(body), "Content-Type", "application/json")
	if r.Code != http.StatusOK {
		t.Fatalf("status = %d: %s", r.Code, r.Body)
	}
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="ctm-usage-2025-08-01-to-2026-03-01-by-model.json"` {
		t.Errorf("Content-Disposition = %q", cd)
	}
	var got exportJSON
	if err := json.Unmarshal(r.Env.Data, &got); err != nil {
		t.Fatal(err)
	}
	checkFigures(t, "summary", got.Summary.Totals, fixture.expected.Totals)
	perModel := map[string]int64{}
	for _, rec := range got.Records {
		if len(rec) != 4 {
			t.Errorf("record %v has %d fields, want the 4 requested", rec, len(rec))
		}
		var model string
		var entries int64
		_ = json.Unmarshal(rec["model"], &model)
		_ = json.Unmarshal(rec["entries"], &entries)
		perModel[model] += entries
	}
	for m, f := range fixture.expected.Models {
		if perModel[m] != f.Entries {
			t.Errorf("%s entries over rows = %d, want %d", m, perModel[m], f.Entries)
		}
	}
	if got.Summary.RecordCount != len(got.Records) || !slices.Equal(got.Fields, []string{"date", "model", "input_tokens", "entries"}) {
		t.Errorf("record_count %d for %d records, fields %v", got.Summary.RecordCount, len(got.Records), got.Fields)
	}

	t.Run("hourly GET with default fields", func(t *testing.T) {
		r := do(t, h, http.MethodGet, "/api/v1/export?format=json&granularity=hour&start_date=2026-03-01&end_date=2026-03-01", nil)
		var got exportJSON
		if err := json.Unmarshal(r.Env.Data, &got); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got.Fields, "model") || len(got.Fields) != 13 {
			t.Errorf("default fields = %v, want all 13 but model", got.Fields)
		}
		var entries int64
		for _, rec := range got.Records {
			var e int64
			var date string
			_ = json.Unmarshal(rec["entries"], &e)
			_ = json.Unmarshal(rec["date"], &date)
			if !strings.HasPrefix(date, "2026-03-01T") {
				t.Errorf("hour label %q", date)
			}
			entries += e
		}
		if entries != fixture.expected.Daily["2026-03-01"].Entries {
			t.Errorf("hourly entries = %d, want %d", entries, fixture.expected.Daily["2026-03-01"].Entries)
		}
		if !strings.Contains(r.Header.Get("Content-Disposition"), "-hourly.json") {
			t.Errorf("Content-Disposition = %q", r.Header.Get("Content-Disposition"))
		}
	})
}

func TestBadParams(t *testing.T) {
	h := newServer(t, nil).Handler()
	for _, tc := range []struct {
		name, method, target, body, param string
	}{
		{"models period", "GET", "/api/v1/stats/models?period=1y", "", "period"},
		{"daily start malformed", "GET", "/api/v1/stats/daily?start_date=2026-13-01", "", "start_date"},
		{"daily end malformed", "GET", "/api/v1/stats/daily?end_date=yesterday", "", "end_date"},
		{"daily start after end", "GET", "/api/v1/stats/daily?start_date=2026-02-01&end_date=2026-01-01", "", "start_date"},
		{"daily range too long", "GET", "/api/v1/stats/daily?start_date=1990-01-01&end_date=2026-01-01", "", "start_date"},
		{"daily year 1 to 9999", "GET", "/api/v1/stats/daily?start_date=0001-01-01&end_date=9999-12-31", "", "start_date"},
		{"daily year 0", "GET", "/api/v1/stats/daily?start_date=0000-01-01", "", "start_date"},
		{"daily year 10000", "GET", "/api/v1/stats/daily?end_date=10000-01-01", "", "end_date"},
		{"export year 1 to 9999", "GET", "/api/v1/export?start_date=0001-01-01&end_date=9999-12-31", "", "start_date"},
		{"history end before default start", "GET", "/api/v1/stats/history?end_time=2000-01-01T00:00:00Z", "", "end_time"},
		{"history end year 1", "GET", "/api/v1/stats/history?start_time=2026-01-01T00:00:00Z&end_time=0001-01-01T00:00:00Z", "", "end_time"},
		{"sessions offset overflow", "GET", "/api/v1/sessions?offset=9223372036854775808", "", "offset"},
		{"post array", "POST", "/api/v1/export", `[]`, "body"},
		{"post string", "POST", "/api/v1/export", `"csv"`, "body"},
		{"trends granularity", "GET", "/api/v1/stats/trends?granularity=minute", "", "granularity"},
		{"trends metric", "GET", "/api/v1/stats/trends?metrics=tokens,bogus", "", "metrics"},
		{"trends period", "GET", "/api/v1/stats/trends?period=2d", "", "period"},
		{"history start", "GET", "/api/v1/stats/history?start_time=2026-01-01", "", "start_time"},
		{"history end", "GET", "/api/v1/stats/history?end_time=noon", "", "end_time"},
		{"history order", "GET", "/api/v1/stats/history?start_time=2026-01-02T00:00:00Z&end_time=2026-01-01T00:00:00Z", "", "start_time"},
		{"history limit high", "GET", "/api/v1/stats/history?limit=501", "", "limit"},
		{"history limit zero", "GET", "/api/v1/stats/history?limit=0", "", "limit"},
		{"history offset", "GET", "/api/v1/stats/history?offset=-1", "", "offset"},
		{"activity period", "GET", "/api/v1/stats/activity?period=week", "", "period"},
		{"sessions sort", "GET", "/api/v1/sessions?sort=name", "", "sort"},
		{"sessions order", "GET", "/api/v1/sessions?order=up", "", "order"},
		{"sessions limit", "GET", "/api/v1/sessions?limit=abc", "", "limit"},
		{"sessions date", "GET", "/api/v1/sessions?start_date=01/02/2026", "", "start_date"},
		{"projects date", "GET", "/api/v1/projects?end_date=2026-02-30", "", "end_date"},
		{"session id too long", "GET", "/api/v1/sessions/" + strings.Repeat("x", 300), "", "id"},
		{"export format", "GET", "/api/v1/export?format=xml", "", "format"},
		{"export field", "GET", "/api/v1/export?fields=date,secret", "", "fields"},
		{"export granularity", "GET", "/api/v1/export?granularity=week", "", "granularity"},
		{"export breakdown", "GET", "/api/v1/export?breakdown=project", "", "breakdown"},
		{"export dates", "GET", "/api/v1/export?start_date=2026-03-01&end_date=2026-01-01", "", "start_date"},
		{"post malformed json", "POST", "/api/v1/export", `{"format":`, "body"},
		{"post unknown field", "POST", "/api/v1/export", `{"format":"csv","include_models":true}`, "body"},
		{"post wrong type", "POST", "/api/v1/export", `{"fields":"date"}`, "body"},
		{"post empty", "POST", "/api/v1/export", ``, "body"},
		{"post trailing data", "POST", "/api/v1/export", `{"format":"csv"} {}`, "body"},
		{"post bad field", "POST", "/api/v1/export", `{"fields":["nope"]}`, "fields"},
		{"post too large", "POST", "/api/v1/export", `{"fields":["` + strings.Repeat("a", 2<<20) + `"]}`, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, h, tc.method, tc.target, strings.NewReader(tc.body))
			wantError(t, r, http.StatusBadRequest, "INVALID_PARAMS", tc.param)
		})
	}
}

func TestExportBodyErrorsNameNoGoType(t *testing.T) {
	h := newServer(t, nil).Handler()
	for _, body := range []string{`[]`, `"csv"`, `1`, `{"fields":"date"}`, `{"format":1}`} {
		r := do(t, h, http.MethodPost, "/api/v1/export", strings.NewReader(body))
		wantError(t, r, http.StatusBadRequest, "INVALID_PARAMS", "body")
		if msg := r.Env.Error.Message; strings.Contains(msg, "server.") || strings.Contains(msg, "[]string") {
			t.Errorf("POST %s: message %q names a Go type", body, msg)
		}
	}
}
