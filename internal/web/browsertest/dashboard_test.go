package browsertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// optionalRoutes are API routes other work delivers; until a server has
// them the page shows an empty state, and the browser's log of the 404 is
// expected rather than an error of the page.
var optionalRoutes = []string{"/api/v1/blocks/active", "/api/v1/ws"}

// consoleErrors returns the console errors and exceptions of the tab,
// leaving out 404s of optional routes that the server really lacks.
func consoleErrors(t *testing.T, b *browser, base string) []string {
	t.Helper()
	missing := map[string]bool{}
	for _, r := range optionalRoutes {
		if routeStatus(t, base+r) == http.StatusNotFound {
			missing[r] = true
		}
	}
	var errs []string
	for _, m := range b.console.all() {
		if m.Type != chromedp.ConsoleError && !m.IsException() {
			continue
		}
		tolerated := false
		for r := range missing {
			if strings.Contains(m.URL, r) || strings.Contains(m.Text, r) {
				tolerated = true
			}
		}
		if tolerated {
			t.Logf("expected while the route is missing: %s (%s)", m.String(), m.URL)
			continue
		}
		errs = append(errs, fmt.Sprintf("%s (%s:%d)", m.String(), m.URL, m.Line+1))
	}
	return errs
}

// lookupPath reads a dotted path such as "today.cost_usd" from decoded JSON.
func lookupPath(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, v != nil
}

// kpi is one KPI element as the page renders it.
type kpi struct {
	Metric string `json:"metric"`
	Value  string `json:"value"`
	Text   string `json:"text"`
}

func TestDashboardLoads(t *testing.T) {
	b := newBrowser(t, 1440, 900)
	base := serverURL(t)
	b.open(t, base+"/")

	t.Run("no console errors", func(t *testing.T) {
		// Let late requests (health, block) settle before judging.
		time.Sleep(300 * time.Millisecond)
		if errs := consoleErrors(t, b, base); len(errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
		}
	})

	t.Run("KPIs equal the API", func(t *testing.T) {
		var stats map[string]any
		getAPI(t, base, "/stats", &stats)
		kpis := eval[[]kpi](t, b, `[...document.querySelectorAll('[data-metric]')].map(e => ({metric: e.dataset.metric, value: e.dataset.value, text: e.textContent}))`)
		if len(kpis) < 10 {
			t.Fatalf("found %d KPI elements, want at least 10", len(kpis))
		}
		for _, k := range kpis {
			api, ok := lookupPath(stats, k.Metric)
			if !ok {
				if k.Value != "" {
					t.Errorf("%s: data-value %q, but /stats has no value", k.Metric, k.Value)
				}
				continue
			}
			num, isNum := api.(json.Number)
			if !isNum {
				t.Errorf("%s: /stats value %v is not a number", k.Metric, api)
				continue
			}
			want, err := num.Float64()
			if err != nil {
				t.Fatal(err)
			}
			got, err := strconv.ParseFloat(k.Value, 64)
			if err != nil {
				t.Errorf("%s: data-value %q is not a number (text %q)", k.Metric, k.Value, k.Text)
				continue
			}
			if got != want {
				t.Errorf("%s: data-value %v, want %v from /stats", k.Metric, got, want)
			}
			if strings.TrimSpace(k.Text) == "" || k.Text == "—" {
				t.Errorf("%s: shows %q for value %v", k.Metric, k.Text, want)
			}
		}
		// The corpus's last day has usage, so today's KPI is not a zero
		// that any broken page would also show.
		if v, _ := lookupPath(stats, "today.total_tokens"); fmt.Sprint(v) == "0" {
			t.Errorf("today.total_tokens is 0 on the corpus's last day; the fixture is wrong")
		}
	})

	t.Run("performance", func(t *testing.T) {
		type perf struct {
			TransferBytes int64   `json:"transfer_bytes"`
			DecodedBytes  int64   `json:"decoded_bytes"`
			Requests      int     `json:"requests"`
			DOMContentMs  float64 `json:"dom_content_loaded_ms"`
			ReadyMs       float64 `json:"ready_ms"`
			LoadMs        float64 `json:"load_ms"`
		}
		p := eval[perf](t, b, `(() => {
			const nav = performance.getEntriesByType('navigation')[0];
			const res = performance.getEntriesByType('resource');
			const ready = performance.getEntriesByName('ctm-ready')[0];
			return {
				transfer_bytes: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
				decoded_bytes: nav.decodedBodySize + res.reduce((a, r) => a + r.decodedBodySize, 0),
				requests: 1 + res.length,
				dom_content_loaded_ms: nav.domContentLoadedEventEnd,
				ready_ms: ready ? ready.startTime : -1,
				load_ms: nav.loadEventEnd,
			};
		})()`)
		t.Logf("first load: %d bytes transferred (%d decoded) in %d requests; DOMContentLoaded %.0f ms, rendered %.0f ms, load %.0f ms",
			p.TransferBytes, p.DecodedBytes, p.Requests, p.DOMContentMs, p.ReadyMs, p.LoadMs)
		if p.TransferBytes <= 0 || p.Requests < 5 {
			t.Fatalf("implausible measurement: %+v", p)
		}
		if p.TransferBytes >= 300<<10 {
			t.Errorf("first load transferred %d bytes, want < %d", p.TransferBytes, 300<<10)
		}
		if p.ReadyMs < 0 {
			t.Errorf("the page never marked ctm-ready")
		}
		out, _ := json.MarshalIndent(p, "", "  ")
		path := filepath.Join(artifactDir(t), "dashboard-perf.json")
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("performance figures: %s", path)
	})

	t.Run("screenshot", func(t *testing.T) {
		b.screenshot(t, "dashboard-desktop.png")
	})
}

// chartState is what the trend chart exposes about its data.
type chartState struct {
	Start  string `json:"start"`
	End    string `json:"end"`
	Points string `json:"points"`
	Tokens string `json:"tokens"`
}

const readChart = `(() => { const d = document.querySelector('#trend-chart').dataset;
	return {start: d.start, end: d.end, points: d.points, tokens: d.totalTokens}; })()`

// dailyTotals returns the number of days and the summed total_tokens that
// /stats/daily reports for a range.
func dailyTotals(t *testing.T, base, start, end string) (int, int64) {
	t.Helper()
	var daily struct {
		Days []struct {
			TotalTokens int64 `json:"total_tokens"`
		} `json:"days"`
	}
	getAPI(t, base, "/stats/daily?start_date="+start+"&end_date="+end, &daily)
	var sum int64
	for _, d := range daily.Days {
		sum += d.TotalTokens
	}
	return len(daily.Days), sum
}

func TestRangeChangesChart(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	base := serverURL(t)
	b.open(t, base+"/")
	today := corpusNow.Format(time.DateOnly)
	day := func(back int) string { return corpusNow.AddDate(0, 0, -back).Format(time.DateOnly) }

	check := func(t *testing.T, start, end string) chartState {
		t.Helper()
		b.waitFor(t, "chart for "+start, fmt.Sprintf(`document.querySelector('#trend-chart').dataset.start === %q && !document.querySelector('#trend-chart').classList.contains('loading')`, start))
		got := eval[chartState](t, b, readChart)
		days, tokens := dailyTotals(t, base, start, end)
		if got.End != end {
			t.Errorf("chart ends %s, want %s", got.End, end)
		}
		if got.Points != strconv.Itoa(days) {
			t.Errorf("chart has %s points, want %d days", got.Points, days)
		}
		if got.Tokens != strconv.FormatInt(tokens, 10) {
			t.Errorf("chart totals %s tokens, want %d from /stats/daily", got.Tokens, tokens)
		}
		return got
	}

	b.click(t, `[data-period="7d"]`)
	week := check(t, day(6), today)
	b.click(t, `[data-period="90d"]`)
	quarter := check(t, day(89), today)
	if week.Tokens == quarter.Tokens || week.Points == quarter.Points {
		t.Errorf("7d chart %+v and 90d chart %+v show the same data", week, quarter)
	}

	// A custom range through the form, as a keyboard user would enter it.
	if err := chromedp.Do(b.ctx,
		chromedp.SetValue(chromedp.CSS("#range-from"), "2026-02-01"),
		chromedp.SetValue(chromedp.CSS("#range-to"), "2026-02-14"),
		chromedp.Click(chromedp.CSS(`#custom-range button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	custom := check(t, "2026-02-01", "2026-02-14")
	if custom.Points != "14" {
		t.Errorf("custom range has %s points, want 14", custom.Points)
	}
	pressed := eval[int](t, b, `document.querySelectorAll('[data-period][aria-pressed="true"]').length`)
	if pressed != 0 {
		t.Errorf("%d preset buttons still pressed after a custom range", pressed)
	}
}

func TestExportDownloadsCSV(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	base := serverURL(t)
	b.open(t, base+"/")
	dir := t.TempDir()
	progress := chromedp.BrowserEvents(b.ctx, cdpbrowser.DownloadProgress)
	begin := chromedp.BrowserEvents(b.ctx, cdpbrowser.DownloadWillBegin)
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior:      cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName,
		DownloadPath:  dir,
		EventsEnabled: new(true),
	}); err != nil {
		t.Fatal(err)
	}
	b.click(t, `[data-period="7d"]`)
	b.waitFor(t, "7-day range", `document.querySelector('#export-csv').href.includes('start_date=2026-02-23')`)
	b.click(t, "#export-csv")

	var name string
	for ev, err := range begin {
		if err != nil {
			t.Fatalf("no download began: %v", err)
		}
		name = ev.SuggestedFilename
		break
	}
	var path string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download did not complete: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatalf("download canceled")
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			path = filepath.Join(dir, ev.GUID)
			break
		}
	}
	if !strings.HasSuffix(name, ".csv") || !strings.Contains(name, "2026-02-23") {
		t.Errorf("downloaded file is named %q, want a .csv of the 7-day range", name)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/api/v1/export?format=csv&start_date=2026-02-23&end_date=2026-03-01")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), "date,") || strings.Count(string(got), "\n") < 2 {
		t.Errorf("download is not a CSV with rows:\n%.300s", got)
	}
	if string(got) != string(want) {
		t.Errorf("download differs from GET /export:\n got %.300s\nwant %.300s", got, want)
	}
}

func TestSessionDetails(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	base := serverURL(t)
	b.open(t, base+"/")
	b.click(t, `[data-period="all"]`)
	b.waitFor(t, "sessions of all time", `document.querySelectorAll('#sessions-table tbody button.link').length > 0 && document.querySelector('#trend-chart').dataset.start < '2026-01-01'`)

	// Sort by cost through the column header and open the most expensive.
	b.click(t, `#sessions-table th[data-sort="cost"] button`)
	b.waitFor(t, "cost sort", `document.querySelector('#sessions-table th[data-sort="cost"]').getAttribute('aria-sort') === 'descending'`)
	var sessions struct {
		Sessions []struct {
			SessionID string `json:"session_id"`
		} `json:"sessions"`
	}
	getAPI(t, base, "/sessions?sort=cost&order=desc&limit=1&start_date="+eval[string](t, b, `document.querySelector('#trend-chart').dataset.start`)+"&end_date=2026-03-01", &sessions)
	if len(sessions.Sessions) == 0 {
		t.Fatal("the API lists no sessions")
	}
	id := sessions.Sessions[0].SessionID
	b.waitFor(t, "most expensive session first", fmt.Sprintf(`document.querySelector('#sessions-table tbody button.link').title === %q`, id))
	b.click(t, "#sessions-table tbody button.link")
	b.waitFor(t, "session timeline", `document.querySelector('#session-dialog').open && document.querySelector('#session-timeline') && document.querySelector('#session-timeline').dataset.points`)

	var detail struct {
		Timeline  []json.RawMessage `json:"timeline"`
		Breakdown []json.RawMessage `json:"breakdown"`
	}
	getAPI(t, base, "/sessions/"+id, &detail)
	points := eval[string](t, b, `document.querySelector('#session-timeline').dataset.points`)
	if points != strconv.Itoa(len(detail.Timeline)) {
		t.Errorf("timeline shows %s requests, want %d", points, len(detail.Timeline))
	}
	rows := eval[int](t, b, `document.querySelectorAll('#session-body table:not(#session-agents):not(#session-prompts) tbody tr').length`)
	if rows != len(detail.Breakdown) {
		t.Errorf("breakdown shows %d models, want %d", rows, len(detail.Breakdown))
	}
	b.screenshot(t, "dashboard-session.png")
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "dialog closed by Escape", `!document.querySelector('#session-dialog').open`)
}

func TestMobileLayout(t *testing.T) {
	b := newBrowser(t, 375, 812)
	base := serverURL(t)
	b.open(t, base+"/")
	width := eval[int](t, b, `document.documentElement.scrollWidth`)
	if width > 375 {
		t.Errorf("page is %d px wide at a 375 px viewport: it scrolls sideways", width)
	}
	b.screenshot(t, "dashboard-375.png")
}

func TestControlsAreLabelled(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	base := serverURL(t)
	b.open(t, base+"/")
	unlabelled := eval[[]string](t, b, `[...document.querySelectorAll('button, a[href], input, select, [tabindex]')]
		.filter(e => !e.closest('[hidden]') && e.offsetParent !== null)
		.filter(e => !(e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || (e.labels && e.labels.length) || e.textContent.trim()))
		.map(e => e.outerHTML.slice(0, 120))`)
	if len(unlabelled) > 0 {
		t.Errorf("controls without an accessible name:\n%s", strings.Join(unlabelled, "\n"))
	}
	// The trend chart answers the keyboard with the same tooltip a mouse gets.
	if err := chromedp.Do(b.ctx, chromedp.Focus(chromedp.CSS("#trend-chart")), chromedp.KeyEvent(kb.End)); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "keyboard tooltip", `(() => { const tip = document.querySelector('#trend-chart .chart-tip'); return tip && !tip.hidden && tip.textContent.includes('2026'); })()`)
}

// TestDarkTheme checks that the page follows the system's dark preference.
func TestDarkTheme(t *testing.T) {
	b := newBrowser(t, 1280, 900)
	base := serverURL(t)
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatal(err)
	}
	b.open(t, base+"/")
	// The sum of the background's RGB channels: dark themes stay low.
	sum := eval[int](t, b, `getComputedStyle(document.body).backgroundColor.match(/\d+/g).slice(0, 3).reduce((a, c) => a + Number(c), 0)`)
	if sum > 150 {
		t.Errorf("body background channel sum %d in dark mode, want a dark colour (<= 150)", sum)
	}
	b.screenshot(t, "dashboard-dark.png")
}
