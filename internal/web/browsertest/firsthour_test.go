package browsertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/claude-token-monitor/ctm/internal/server"
)

// laterNow is nine months after the corpus ends: every transcript is older
// than 30 days, as for a user whose history only ctm still keeps.
var laterNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// laterCorpus serves the corpus with the clock at laterNow.
func laterCorpus(t *testing.T) string {
	t.Helper()
	root, err := corpusDir(t)
	if err != nil {
		t.Fatal(err)
	}
	c, err := startCorpusWith(root, nil, func(o *server.Options) error {
		o.Now = func() time.Time { return laterNow }
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c.url
}

// TestDefaultRangeFromData: with nothing in the last 30 days, the first
// view is the last 30 days that have data, and the page says so.
func TestDefaultRangeFromData(t *testing.T) {
	requireChromium(t)
	base := laterCorpus(t)
	b := newBrowser(t, 1400, 900)
	b.open(t, base+"/")
	b.waitFor(t, "the trend chart of the chosen range", `document.querySelector('#trend-chart').dataset.start`)
	start := eval[string](t, b, `document.querySelector('#trend-chart').dataset.start`)
	end := eval[string](t, b, `document.querySelector('#trend-chart').dataset.end`)
	if start != "2026-01-31" || end != "2026-03-01" {
		t.Errorf("default range %s..%s, want the 30 days up to the last day with data, 2026-01-31..2026-03-01", start, end)
	}
	note := eval[string](t, b, `(() => { const n = document.querySelector('#range-note'); return n.hidden ? '' : n.textContent; })()`)
	if !strings.Contains(note, "No usage in the last 30 days") || !strings.Contains(note, "1 Mar 2026") {
		t.Errorf("range note = %q, want it to say why the range moved", note)
	}
	if rows := eval[int](t, b, `document.querySelectorAll('#sessions-table tbody button.link').length`); rows == 0 {
		t.Error("the sessions table is empty on first load")
	}
	// The heatmap shows the same days as the other panels.
	if hint := eval[string](t, b, `document.querySelector('#activity-hint').textContent`); !strings.HasPrefix(hint, "2026-01-31 – 2026-03-01") {
		t.Errorf("activity hint %q, want the chosen days 2026-01-31 – 2026-03-01", hint)
	}
	// Choosing a range by hand drops the note.
	b.click(t, `[data-period="7d"]`)
	b.waitFor(t, "the note hidden after a choice", `document.querySelector('#range-note').hidden`)

	// The clock is far past the last request: no block is active, which
	// is a normal state and logs nothing.
	if errs := consoleErrors(t, b, base); len(errs) > 0 {
		t.Errorf("console errors without an active block:\n%s", strings.Join(errs, "\n"))
	}
	footer := eval[string](t, b, `document.querySelector('#footer-updated').textContent`)
	if strings.Contains(footer, "AM") || strings.Contains(footer, "PM") || !strings.Contains(footer, ":") {
		t.Errorf("footer %q, want a 24-hour clock like the rest of the page", footer)
	}
	if got := eval[string](t, b, `document.querySelector('[data-metric="today.cache_hit_rate"]').textContent`); got != "–" {
		t.Errorf("today's cache hit rate with no requests today = %q, want –", got)
	}
	b.screenshot(t, "default-range-1400-light.png")
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatal(err)
	}
	b.open(t, base+"/")
	b.screenshot(t, "default-range-1400-dark.png")
}

// TestBusiestCell: the hint names the heatmap's busiest cell, not the
// busiest day joined with the busiest hour.
func TestBusiestCell(t *testing.T) {
	b := newBrowser(t, 1400, 900)
	base := serverURL(t)
	b.open(t, base+"/")
	b.click(t, `[data-period="all"]`)
	b.waitFor(t, "the heatmap of all time", `document.querySelector('#activity-hint').textContent.startsWith('2025-08-14') && document.querySelector('#activity-hint').dataset.busiest`)
	var act struct {
		Heatmap struct {
			Days    []string  `json:"days"`
			Hours   []int     `json:"hours"`
			Entries [][]int64 `json:"entries"`
		} `json:"heatmap"`
		Summary struct {
			Day  string `json:"most_active_day"`
			Hour int    `json:"most_active_hour"`
		} `json:"summary"`
	}
	getAPI(t, base, "/stats/activity?period=all", &act)
	bi, bj, best := -1, -1, int64(0)
	for i, row := range act.Heatmap.Entries {
		for j, v := range row {
			if v > best {
				bi, bj, best = i, j, v
			}
		}
	}
	if bi < 0 {
		t.Fatal("the corpus heatmap is empty")
	}
	want := fmt.Sprintf("%s %d", act.Heatmap.Days[bi], act.Heatmap.Hours[bj])
	if got := eval[string](t, b, `document.querySelector('#activity-hint').dataset.busiest`); got != want {
		t.Errorf("busiest cell = %q, want %q (%d requests)", got, want, best)
	}
	hint := eval[string](t, b, `document.querySelector('#activity-hint').textContent`)
	if wantText := fmt.Sprintf("busiest: %s %02d:00, %d requests", act.Heatmap.Days[bi], act.Heatmap.Hours[bj], best); !strings.Contains(hint, wantText) {
		t.Errorf("hint = %q, want %q", hint, wantText)
	}
}

// TestSessionDialogAt375 opens a session on a phone: the
// dialog fits the viewport and nothing in it sticks out sideways; wide
// tables scroll inside their own box and say so.
func TestSessionDialogAt375(t *testing.T) {
	for _, dark := range []bool{false, true} {
		name := "light"
		if dark {
			name = "dark"
		}
		t.Run(name, func(t *testing.T) {
			b := newBrowser(t, 375, 812)
			base := serverURL(t)
			if dark {
				if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
					Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
				}); err != nil {
					t.Fatal(err)
				}
			}
			b.open(t, base+"/")
			b.click(t, `[data-period="all"]`)
			b.waitFor(t, "sessions of all time", `document.querySelectorAll('#sessions-table tbody button.link').length > 5`)
			// Wide tables scroll in their box, with a visible cue.
			for _, id := range []string{"sessions-table", "projects-table"} {
				wrap := fmt.Sprintf(`document.querySelector('#%s').closest('.table-wrap')`, id)
				if !eval[bool](t, b, wrap+`.scrollWidth > `+wrap+`.clientWidth`) {
					continue // fits: nothing to show
				}
				cue := eval[bool](t, b, wrap+`.dataset.scrollable === 'true' && getComputedStyle(`+wrap+`).backgroundImage !== 'none' && !`+wrap+`.nextElementSibling.hidden && `+wrap+`.nextElementSibling.offsetHeight > 0`)
				if !cue {
					t.Errorf("#%s overflows its box without a visible sign that it scrolls", id)
				}
			}
			if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 375 {
				t.Errorf("page is %d px wide at 375 px", w)
			}
			b.screenshot(t, "dashboard-375-"+name+".png")

			// The second most recent session costs $0.88: its cumulative
			// cost axis runs past $1, where cents and dimes once mixed.
			b.click(t, "#sessions-table tbody tr:nth-child(2) button.link")
			b.waitFor(t, "session timeline", `document.querySelector('#session-dialog').open && document.querySelector('#session-timeline') && document.querySelector('#session-timeline').dataset.points`)
			// Every box in the dialog ends inside it, apart from content
			// that scrolls within a box of its own.
			over := eval[[]string](t, b, `(() => {
				const dlg = document.querySelector('#session-dialog');
				const r = dlg.getBoundingClientRect();
				const out = [];
				if (r.right > window.innerWidth || r.left < 0) out.push('dialog ' + r.left + '..' + r.right);
				if (dlg.scrollWidth > dlg.clientWidth) out.push('dialog scrolls sideways: ' + dlg.scrollWidth + ' > ' + dlg.clientWidth);
				for (const e of dlg.querySelectorAll('*')) {
					if (e.closest('.table-wrap') && !e.classList.contains('table-wrap')) continue;
					const b = e.getBoundingClientRect();
					if (b.width && b.right > r.right + 0.5) out.push(e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className + ' ends at ' + Math.round(b.right));
				}
				return out.slice(0, 10);
			})()`)
			if len(over) > 0 {
				t.Errorf("dialog content overflows at 375 px:\n%s", strings.Join(over, "\n"))
			}
			labels := eval[[]string](t, b, `[...document.querySelectorAll('#session-timeline svg text.x-label')].map(e => e.textContent)`)
			if len(labels) == 0 {
				t.Error("the session timeline has no x labels")
			}
			seen := map[string]int{}
			for _, l := range labels {
				seen[l]++
				if seen[l] == 2 {
					t.Errorf("timeline x label %q repeats: %q", l, labels)
				}
			}
			// Each cost axis writes all its ticks alike: never "$0.50"
			// beside "$1.0".
			for _, sel := range []string{"#session-cumulative svg text.y-label", "#session-timeline svg text.y-label.right"} {
				ticks := eval[[]string](t, b, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent)`, sel))
				if len(ticks) < 2 {
					t.Errorf("%s: %d ticks, want an axis", sel, len(ticks))
					continue
				}
				decimals := func(s string) int {
					if i := strings.IndexByte(s, '.'); i >= 0 {
						return len(s) - i - 1
					}
					return 0
				}
				for _, tk := range ticks[1:] { // the first is $0
					if decimals(tk) != decimals(ticks[len(ticks)-1]) {
						t.Errorf("%s ticks %q mix decimals", sel, ticks)
						break
					}
				}
			}
			b.screenshot(t, "session-375-"+name+".png")
		})
	}
}

// TestTrendGroupsLongRanges: 200 days of bars would be hair-thin, so a
// long range is drawn by week, with the same totals.
func TestTrendGroupsLongRanges(t *testing.T) {
	b := newBrowser(t, 1400, 900)
	base := serverURL(t)
	b.open(t, base+"/")
	if unit := eval[string](t, b, `document.querySelector('#trend-chart').dataset.unit`); unit != "day" {
		t.Errorf("30 days drawn by %q, want day", unit)
	}
	b.click(t, `[data-period="all"]`)
	b.waitFor(t, "all time", `document.querySelector('#trend-chart').dataset.start === '2025-08-14'`)
	var daily struct {
		Days []struct {
			Date        string `json:"date"`
			TotalTokens int64  `json:"total_tokens"`
		} `json:"days"`
	}
	getAPI(t, base, "/stats/daily?start_date=2025-08-14&end_date=2026-03-01", &daily)
	weeks := map[string]bool{}
	var total int64
	for _, d := range daily.Days {
		day, err := time.Parse(time.DateOnly, d.Date)
		if err != nil {
			t.Fatal(err)
		}
		monday := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		weeks[monday.Format(time.DateOnly)] = true
		total += d.TotalTokens
	}
	if len(daily.Days) <= 120 {
		t.Fatalf("all time holds %d days; the corpus spans 200", len(daily.Days))
	}
	if unit := eval[string](t, b, `document.querySelector('#trend-chart').dataset.unit`); unit != "week" {
		t.Errorf("%d days drawn by %q, want week", len(daily.Days), unit)
	}
	if bars := eval[string](t, b, `document.querySelector('#trend-chart').dataset.bars`); bars != fmt.Sprint(len(weeks)) {
		t.Errorf("bars = %s, want %d weeks", bars, len(weeks))
	}
	if got := eval[string](t, b, `document.querySelector('#trend-chart').dataset.totalTokens`); got != fmt.Sprint(total) {
		t.Errorf("weekly bars hold %s tokens, the days %d", got, total)
	}
	if title := eval[string](t, b, `document.querySelector('#trend-title').textContent`); title != "Weekly usage" {
		t.Errorf("trend title %q, want Weekly usage", title)
	}
}

// TestProjectShareOfTotal: the projects' bars are shares of all tokens,
// so they add up to 100%, not scaled to the largest project.
func TestProjectShareOfTotal(t *testing.T) {
	b := newBrowser(t, 1400, 900)
	base := serverURL(t)
	b.open(t, base+"/")
	b.click(t, `[data-period="all"]`)
	var projects struct {
		Projects []struct {
			TotalTokens int64 `json:"total_tokens"`
		} `json:"projects"`
		Totals struct {
			TotalTokens int64 `json:"total_tokens"`
		} `json:"totals"`
	}
	getAPI(t, base, "/projects?start_date=2025-08-14&end_date=2026-03-01", &projects)
	// The chart and the table are redrawn by separate requests: wait for
	// the table of all time itself, not only for the chart.
	b.waitFor(t, "projects of all time", fmt.Sprintf(`document.querySelector('#trend-chart').dataset.start === '2025-08-14' &&
		document.querySelectorAll('#projects-table tbody .bar').length === %d`, len(projects.Projects)))
	widths := eval[[]string](t, b, `[...document.querySelectorAll('#projects-table tbody .bar')].map(e => e.style.width)`)
	if len(widths) != len(projects.Projects) {
		t.Fatalf("%d bars for %d projects", len(widths), len(projects.Projects))
	}
	largest := 0
	for i, p := range projects.Projects {
		pct := int(float64(p.TotalTokens)/float64(projects.Totals.TotalTokens)*100 + 0.5)
		if want := fmt.Sprintf("%d%%", max(2, pct)); widths[i] != want {
			t.Errorf("project %d bar %s, want %s of all tokens", i, widths[i], want)
		}
		largest = max(largest, pct)
	}
	// Every project with requests has at least one session.
	if zero := eval[[]string](t, b, `[...document.querySelectorAll('#projects-table tbody tr')].filter(r => r.cells[1].textContent === '0' && r.cells[2].textContent !== '0').map(r => r.cells[0].textContent)`); len(zero) > 0 {
		t.Errorf("projects with requests and 0 sessions: %q", zero)
	}
	b.screenshot(t, "dashboard-all-1400.png")
	if largest >= 100 {
		t.Errorf("the largest project holds %d%% of the tokens; the test needs several projects", largest)
	}
}
