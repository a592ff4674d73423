package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/claude-token-monitor/ctm/internal/web"
)

// assets are the files the dashboard is made of.
var assets = []string{"index.html", "app.js", "charts.js", "style.css", "favicon.svg"}

func TestFSHoldsTheDashboard(t *testing.T) {
	if err := fstest.TestFS(web.FS, assets...); err != nil {
		t.Fatal(err)
	}
	index, err := fs.ReadFile(web.FS, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(index), `<script type="module" src="app.js">`) {
		t.Errorf("index.html does not load app.js as a module")
	}
}

// TestReferencesResolve checks that every local file the page names (src,
// href, JavaScript imports) is embedded, so the page cannot 404 on itself.
func TestReferencesResolve(t *testing.T) {
	refs := map[string][]*regexp.Regexp{
		"index.html": {regexp.MustCompile(`(?:src|href)="([^"#:]+)"`)},
		"app.js":     {regexp.MustCompile(`from '\./([^']+)'`)},
	}
	for file, patterns := range refs {
		data, err := fs.ReadFile(web.FS, file)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, re := range patterns {
			for _, m := range re.FindAllStringSubmatch(string(data), -1) {
				n++
				if _, err := fs.Stat(web.FS, strings.TrimPrefix(m[1], "./")); err != nil {
					t.Errorf("%s references %q: %v", file, m[1], err)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: found no references; the pattern is stale", file)
		}
	}
}

// TestNoRemoteResources keeps the page offline: no CDN, no remote fonts,
// no third-party scripts. The SVG namespace URI is an identifier, not a
// fetch.
func TestNoRemoteResources(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for _, name := range assets {
		data, err := fs.ReadFile(web.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "http://www.w3.org/2000/svg", "")
		if m := remote.FindString(text); m != "" {
			t.Errorf("%s refers to a remote resource %q", name, m)
		}
	}
}

// TestSizeBudget keeps the first load well inside its 300 KB budget: the
// static files are served uncompressed, and the API's JSON needs the rest.
func TestSizeBudget(t *testing.T) {
	const budget = 150 << 10
	total := 0
	err := fs.WalkDir(web.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += int(info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > budget {
		t.Errorf("static files total %d bytes, want at most %d", total, budget)
	}
}

// TestServedTypes checks the content types the browser needs: module
// scripts are refused unless served as JavaScript.
func TestServedTypes(t *testing.T) {
	srv := httptest.NewServer(http.FileServerFS(web.FS))
	defer srv.Close()
	for _, tc := range []struct{ path, wantType, wantBody string }{
		{"/", "text/html", "<title>Claude Token Monitor</title>"},
		{"/app.js", "text/javascript", "import {"},
		{"/charts.js", "text/javascript", "export function heatmap"},
		{"/style.css", "text/css", "prefers-color-scheme: dark"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", tc.path, resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.wantType) {
				t.Errorf("GET %s: Content-Type %q, want %s", tc.path, got, tc.wantType)
			}
			if !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("GET %s: body lacks %q", tc.path, tc.wantBody)
			}
		})
	}
}

// TestKPIsCarryMetrics checks the contract tests and users rely on: every
// KPI value names its /stats field and has a slot for the raw number.
func TestKPIsCarryMetrics(t *testing.T) {
	index, err := fs.ReadFile(web.FS, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`<[^>]*data-metric="([^"]+)"[^>]*>`)
	got := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(index), -1) {
		if !strings.Contains(m[0], `data-value=`) {
			t.Errorf("KPI %s has no data-value attribute", m[1])
		}
		got[m[1]] = true
	}
	for _, want := range []string{
		"today.total_tokens", "today.cost_usd", "summary.total_tokens", "summary.cost_usd",
		"summary.cache_hit_rate", "summary.session_count", "comparison.vs_yesterday.tokens_change",
	} {
		if !got[want] {
			t.Errorf("no KPI element with data-metric=%q", want)
		}
	}
}
