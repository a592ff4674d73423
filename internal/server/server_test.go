package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

func TestNewValidates(t *testing.T) {
	base := func() server.Options {
		return server.Options{Store: fixture.store, Pricer: fixture.pricer}
	}
	for _, tc := range []struct {
		name string
		edit func(*server.Options)
		want string // substring of the error, "" for success
	}{
		{"defaults", func(*server.Options) {}, ""},
		{"no store", func(o *server.Options) { o.Store = nil }, "Store"},
		{"no pricer", func(o *server.Options) { o.Pricer = nil }, "Pricer"},
		{"public without token", func(o *server.Options) { o.Host = "0.0.0.0" }, "AUTH_TOKEN"},
		{"public with token", func(o *server.Options) { o.Host = "0.0.0.0"; o.AuthToken = "t" }, ""},
		{"public allowed", func(o *server.Options) { o.Host = "192.168.1.2"; o.AllowRemote = true }, ""},
		{"ipv6 loopback", func(o *server.Options) { o.Host = "::1" }, ""},
		{"localhost", func(o *server.Options) { o.Host = "localhost" }, ""},
		{"bad port", func(o *server.Options) { o.Port = 70000 }, "port"},
		{"bad prefix", func(o *server.Options) { o.APIPrefix = "/" }, "prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.edit(&o)
			_, err := server.New(o)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New = %v, want success", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	s := newServer(t, func(o *options) { o.Port = 0; o.APIPrefix = "api/v2/" })
	if s.URL() != "" {
		t.Errorf("URL before Open = %q", s.URL())
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err == nil {
		t.Errorf("second Open succeeded")
	}
	if s.APIPrefix() != "/api/v2" {
		t.Errorf("APIPrefix = %q, want /api/v2", s.APIPrefix())
	}
	res, err := http.Get(s.URL() + "/api/v2/config")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	var env struct {
		Data struct {
			Port      int    `json:"port"`
			APIPrefix string `json:"api_prefix"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if want := s.URL()[strings.LastIndex(s.URL(), ":")+1:]; strconv.Itoa(env.Data.Port) != want || env.Data.APIPrefix != "/api/v2" {
		t.Errorf("config over HTTP = %+v, want port %s", env.Data, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(s.URL() + "/api/v2/health"); err == nil && s.URL() != "" {
		t.Errorf("server still answers after Close")
	}

	t.Run("port in use", func(t *testing.T) {
		a := newServer(t, nil)
		if err := a.Open(); err != nil {
			t.Fatal(err)
		}
		defer a.Close(context.Background())
		port, _ := strconv.Atoi(a.URL()[strings.LastIndex(a.URL(), ":")+1:])
		b := newServer(t, func(o *options) { o.Port = port })
		if err := b.Open(); err == nil {
			b.Close(context.Background())
			t.Errorf("Open on a used port succeeded")
		}
	})
}

func TestConfig(t *testing.T) {
	h := newServer(t, func(o *options) {
		o.AuthToken = "top-secret-token"
		o.CORSOrigins = []string{"http://localhost:3000"}
		o.SnapshotInterval = 5 * time.Minute
		o.RetentionDays = 7
	}).Handler()
	r := do(t, h, http.MethodGet, "/api/v1/config", nil, "Authorization", "Bearer top-secret-token")
	if strings.Contains(string(r.Body), "top-secret-token") {
		t.Fatalf("config leaks the auth token: %s", r.Body)
	}
	var got struct {
		AuthEnabled             bool     `json:"auth_enabled"`
		CORSOrigins             []string `json:"cors_origins"`
		SnapshotIntervalSeconds int64    `json:"snapshot_interval_seconds"`
		RetentionDays           int      `json:"retention_days"`
		Timezone                string   `json:"timezone"`
		Host                    string   `json:"host"`
	}
	if err := json.Unmarshal(r.Env.Data, &got); err != nil {
		t.Fatal(err)
	}
	if !got.AuthEnabled || got.SnapshotIntervalSeconds != 300 || got.RetentionDays != 7 ||
		got.Timezone != "UTC" || got.Host != "127.0.0.1" || len(got.CORSOrigins) != 1 {
		t.Errorf("config = %+v", got)
	}
}

// fakeStatsCache returns a fixed answer.
type fakeStatsCache struct {
	sc    *usage.StatsCache
	fresh bool
	err   error
}

func (f fakeStatsCache) Read() (*usage.StatsCache, bool, error) { return f.sc, f.fresh, f.err }

func TestHealthAndStatsCache(t *testing.T) {
	sc := &usage.StatsCache{Version: 2, LastComputedDate: "2026-02-28", TotalSessions: 1454,
		DailyActivity: []usage.DailyActivity{{Date: "2026-02-28", MessageCount: 3, SessionCount: 1}},
		ModelUsage:    map[string]usage.ModelUsage{"claude-opus-4-6": {InputTokens: 10}},
		HourCounts:    map[string]int64{"9": 4}}
	type healthJSON struct {
		Status        string   `json:"status"`
		Version       string   `json:"version"`
		UptimeSeconds int64    `json:"uptime_seconds"`
		StatsCache    string   `json:"stats_cache"`
		Problems      []string `json:"problems"`
		DataSources   []struct {
			Path         string     `json:"path"`
			Exists       bool       `json:"exists"`
			LastModified *time.Time `json:"last_modified"`
		} `json:"data_sources"`
		Database struct {
			Status       string     `json:"status"`
			LatestRecord *time.Time `json:"latest_record"`
		} `json:"database"`
	}
	for _, tc := range []struct {
		name       string
		cache      server.StatsCacheReader
		sources    []string
		wantHealth string
		wantCache  string
		wantStatus int
		wantCode   string
	}{
		{"fresh", fakeStatsCache{sc: sc, fresh: true}, []string{corpusRoot}, "healthy", "ok", 200, ""},
		{"stale copy", fakeStatsCache{sc: sc, fresh: false}, []string{corpusRoot}, "degraded", "stale", 200, ""},
		{"partial with last good copy", fakeStatsCache{sc: sc, fresh: true, err: errors.New("unexpected EOF")}, []string{corpusRoot}, "degraded", "stale", 200, ""},
		{"absent file", fakeStatsCache{err: fs.ErrNotExist}, []string{corpusRoot}, "healthy", "absent", 404, "FILE_NOT_FOUND"},
		{"not configured", nil, []string{corpusRoot}, "healthy", "absent", 404, "FILE_NOT_FOUND"},
		{"unparseable", fakeStatsCache{err: errors.New("invalid character")}, []string{corpusRoot}, "degraded", "unreadable", 500, "PARSE_ERROR"},
		{"no data directory", nil, []string{filepath.Join(t.TempDir(), "missing")}, "degraded", "absent", 404, "FILE_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newServer(t, func(o *options) { o.StatsCache = tc.cache; o.DataSources = tc.sources }).Handler()
			var got healthJSON
			get(t, h, "/api/v1/health", &got)
			if got.Status != tc.wantHealth || got.StatsCache != tc.wantCache {
				t.Errorf("health = %s/%s, want %s/%s (problems %v)", got.Status, got.StatsCache, tc.wantHealth, tc.wantCache, got.Problems)
			}
			if (got.Status == "healthy") != (len(got.Problems) == 0) {
				t.Errorf("status %s with problems %v", got.Status, got.Problems)
			}
			if got.Version != "test" || got.Database.Status != "connected" || got.Database.LatestRecord == nil {
				t.Errorf("health = %+v", got)
			}
			ds := got.DataSources[0]
			if ds.Exists != (tc.sources[0] == corpusRoot) || ds.Exists != (ds.LastModified != nil) {
				t.Errorf("data source = %+v", ds)
			}

			r := do(t, h, http.MethodGet, "/api/v1/stats/cache", nil)
			if tc.wantCode != "" {
				wantError(t, r, tc.wantStatus, tc.wantCode, "stats-cache.json")
				return
			}
			var cache struct {
				Fresh bool             `json:"fresh"`
				Cache usage.StatsCache `json:"cache"`
			}
			if err := json.Unmarshal(r.Env.Data, &cache); err != nil {
				t.Fatal(err)
			}
			if cache.Fresh != (tc.wantCache == "ok") || cache.Cache.TotalSessions != 1454 || cache.Cache.ModelUsage["claude-opus-4-6"].InputTokens != 10 {
				t.Errorf("stats cache = %+v", cache)
			}
		})
	}

	t.Run("uptime", func(t *testing.T) {
		now := testNow
		s := newServer(t, func(o *options) { o.Now = func() time.Time { return now } })
		now = now.Add(90 * time.Second)
		var got healthJSON
		get(t, s.Handler(), "/api/v1/health", &got)
		if got.UptimeSeconds != 90 {
			t.Errorf("uptime_seconds = %d, want 90", got.UptimeSeconds)
		}
	})
}

func TestStatic(t *testing.T) {
	static := fstest.MapFS{"index.html": {Data: []byte("<h1>dashboard</h1>")}}
	h := newServer(t, func(o *options) { o.Static = static }).Handler()
	r := do(t, h, http.MethodGet, "/", nil)
	if r.Code != http.StatusOK || !strings.Contains(string(r.Body), "dashboard") {
		t.Errorf("GET / = %d %q", r.Code, r.Body)
	}
	// Unknown API paths stay JSON 404s even with a catch-all dashboard.
	r = do(t, h, http.MethodGet, "/api/v1/missing", nil)
	wantError(t, r, http.StatusNotFound, "NOT_FOUND")
	r = do(t, h, http.MethodPost, "/api/v1/stats", nil)
	wantError(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
}

func TestMetrics(t *testing.T) {
	h := newServer(t, nil).Handler()
	get(t, h, "/api/v1/stats", nil)
	do(t, h, http.MethodGet, "/api/v1/nope", nil)
	r := do(t, h, http.MethodGet, "/metrics", nil)
	if r.Code != http.StatusOK {
		t.Fatalf("status = %d", r.Code)
	}
	text := string(r.Body)
	for m, f := range fixture.expected.Models {
		for typ, n := range map[string]int64{"input": f.Input, "output": f.Output, "cache_read": f.CacheRead,
			"cache_creation_5m": f.CW5, "cache_creation_1h": f.CW1} {
			line := fmt.Sprintf(`ctm_tokens_total{model=%q,type=%q} %s`, m, typ, promNumber(float64(n)))
			if !strings.Contains(text, line) {
				t.Errorf("metrics lack %q", line)
			}
		}
		re := regexp.MustCompile(`ctm_cost_usd_total\{model="` + regexp.QuoteMeta(m) + `"\} (\S+)`)
		match := re.FindStringSubmatch(text)
		if match == nil {
			t.Errorf("no cost series for %s", m)
			continue
		}
		if v, _ := strconv.ParseFloat(match[1], 64); !near(v, f.CostUSD) {
			t.Errorf("%s cost = %v, want %v", m, v, f.CostUSD)
		}
	}
	for _, want := range []string{
		fmt.Sprintf("ctm_records_total %d", fixture.expected.Totals.Entries),
		`ctm_http_requests_total{method="GET",route="GET /api/v1/stats",status="200"} 1`,
		`ctm_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`ctm_http_request_duration_seconds_bucket{method="GET",route="GET /api/v1/stats",le="+Inf"} 1`,
		"ctm_ingest_lag_seconds ",
		"go_goroutines ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	t.Run("lag from the ingest hook", func(t *testing.T) {
		h := newServer(t, func(o *options) { o.LastIngest = func() time.Time { return testNow.Add(-42 * time.Second) } }).Handler()
		r := do(t, h, http.MethodGet, "/metrics", nil)
		if !strings.Contains(string(r.Body), "ctm_ingest_lag_seconds 42\n") {
			t.Errorf("lag line missing:\n%s", grepLines(string(r.Body), "ctm_ingest_lag"))
		}
	})
	t.Run("store failure fails the scrape", func(t *testing.T) {
		h := newServer(t, func(o *options) { o.Store = failingStore{fixture.store} }).Handler()
		r := do(t, h, http.MethodGet, "/metrics", nil)
		if r.Code != http.StatusInternalServerError {
			t.Errorf("status = %d, want 500", r.Code)
		}
	})
}

// promNumber formats a value as the Prometheus text format does.
func promNumber(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func grepLines(text, sub string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRealStatsCache(t *testing.T) {
	// The ingester's reader satisfies server.StatsCacheReader and the real
	// file round-trips through the API.
	reader := ingest.NewStatsCacheReader(filepath.Join(corpusRoot, "stats-cache.json"))
	h := newServer(t, func(o *options) { o.StatsCache = reader }).Handler()
	var got struct {
		Fresh bool             `json:"fresh"`
		Cache usage.StatsCache `json:"cache"`
	}
	get(t, h, "/api/v1/stats/cache", &got)
	// Figures from PROVENANCE.md for claude-real/stats-cache.json.
	if !got.Fresh || got.Cache.Version != 2 || got.Cache.LastComputedDate != "2026-02-28" ||
		got.Cache.TotalSessions != 1454 || got.Cache.TotalMessages != 118745 ||
		len(got.Cache.DailyActivity) != 35 || len(got.Cache.ModelUsage) != 3 {
		t.Errorf("stats cache = fresh %v, version %d, %s, %d sessions, %d messages, %d days, %d models",
			got.Fresh, got.Cache.Version, got.Cache.LastComputedDate, got.Cache.TotalSessions,
			got.Cache.TotalMessages, len(got.Cache.DailyActivity), len(got.Cache.ModelUsage))
	}

	missing := ingest.NewStatsCacheReader(filepath.Join(t.TempDir(), "stats-cache.json"))
	h = newServer(t, func(o *options) { o.StatsCache = missing }).Handler()
	wantError(t, do(t, h, http.MethodGet, "/api/v1/stats/cache", nil), http.StatusNotFound, "FILE_NOT_FOUND")
}
