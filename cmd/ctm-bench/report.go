package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/claude-token-monitor/ctm/internal/gen"
)

// sample is the measured runs of one scenario.
type sample struct {
	Runs []run `json:"runs"`
	// WallMedian and RSSMedian are the medians over Runs; RSSMax is the
	// largest peak seen.
	WallMedian time.Duration `json:"wall_median_ns"`
	RSSMedian  int64         `json:"max_rss_median_bytes"`
	RSSMax     int64         `json:"max_rss_max_bytes"`
	Error      string        `json:"error,omitempty"`
}

func (s *sample) add(r run) {
	s.Runs = append(s.Runs, r)
	walls := make([]time.Duration, len(s.Runs))
	rss := make([]int64, len(s.Runs))
	for i, r := range s.Runs {
		walls[i], rss[i] = r.Wall, r.MaxRSS
	}
	s.WallMedian, s.RSSMedian = median(walls), median(rss)
	s.RSSMax = max(s.RSSMax, r.MaxRSS)
}

func (s *sample) ok() bool { return len(s.Runs) > 0 && s.Error == "" }

// median returns the middle value (the mean of the two middle values for
// an even count), 0 for none.
func median[T int64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := append([]T(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// goal is one line of the comparison table.
type goal struct {
	Metric  string  `json:"metric"`
	Unit    string  `json:"unit"`
	CTM     float64 `json:"ctm"`
	CCUsage float64 `json:"ccusage"`
	// Ratio is CTM/CCUsage; 0 when either side is missing.
	Ratio float64 `json:"ratio"`
	// Max is the highest passing ratio; 0 for a row that is information only.
	Max float64 `json:"goal_max_ratio,omitempty"`
	// Limit, when set, is an absolute bar on CTM (seconds) instead.
	Limit  float64 `json:"goal_max_seconds,omitempty"`
	Result string  `json:"result"`
}

// Result values of a goal.
const (
	resultPass = "PASS"
	resultMiss = "MISS"
	resultInfo = "info"
	resultNA   = "n/a"
)

func newGoal(metric, unit string, ctm, ccusage, maxRatio float64, have bool) goal {
	g := goal{Metric: metric, Unit: unit, CTM: ctm, CCUsage: ccusage, Max: maxRatio, Result: resultNA}
	if !have || ccusage <= 0 {
		return g
	}
	g.Ratio = ctm / ccusage
	switch {
	case maxRatio == 0:
		g.Result = resultInfo
	case g.Ratio <= maxRatio:
		g.Result = resultPass
	default:
		g.Result = resultMiss
	}
	return g
}

// goals computes the DESIGN.md §7 ratios: first index wall <= 0.5x and
// peak memory <= 0.5x of ccusage, unchanged-tree report <= 0.03x of
// ccusage's time; and the absolute bars of a report after a 1 MB append
// (40 ms) and of ctm statusline while ctm serve runs (20 ms), shown
// beside ccusage's time for scale.
func goals(cc, first, unchanged, appended, status *sample) []goal {
	secs := func(d time.Duration) float64 { return d.Seconds() }
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	abs := func(metric string, s *sample, limit time.Duration) goal {
		g := newGoal(metric, "s", secs(s.WallMedian), secs(cc.WallMedian), 0, s.ok() && cc.ok())
		g.Limit = secs(limit)
		switch {
		case !s.ok():
			g.Result = resultNA
		case s.WallMedian <= limit:
			g.Result = resultPass
		default:
			g.Result = resultMiss
		}
		return g
	}
	return []goal{
		newGoal("first index wall", "s", secs(first.WallMedian), secs(cc.WallMedian), 0.5, first.ok() && cc.ok()),
		newGoal("first index peak RSS", "MiB", mb(first.RSSMedian), mb(cc.RSSMedian), 0.5, first.ok() && cc.ok()),
		newGoal("unchanged report wall", "s", secs(unchanged.WallMedian), secs(cc.WallMedian), 0.03, unchanged.ok() && cc.ok()),
		newGoal("unchanged report peak RSS", "MiB", mb(unchanged.RSSMedian), mb(cc.RSSMedian), 0, unchanged.ok() && cc.ok()),
		abs("report after 1 MB append", appended, 40*time.Millisecond),
		abs("statusline, serve running", status, 20*time.Millisecond),
	}
}

// results is everything one benchmark run measured, as written by -json.
type results struct {
	Data      string    `json:"data"`
	Started   time.Time `json:"started"`
	Runs      int       `json:"runs"`
	Repeats   int       `json:"unchanged_repeats"`
	Generated *dataSet  `json:"generated,omitempty"`
	CCUsage   sample    `json:"ccusage"`
	CTMFirst  sample    `json:"ctm_first_index"`
	CTMAgain  sample    `json:"ctm_unchanged"`
	CTMAppend sample    `json:"ctm_after_append"`
	CTMStatus sample    `json:"ctm_statusline_serving"`
	Goals     []goal    `json:"goals"`
	// Totals holds each source's token totals: ctm, ccusage and, when the
	// data set has a manifest, expected.
	Totals map[string]tokens `json:"totals"`
	// Differences lists token-count disagreements, empty when all agree.
	Differences []string `json:"differences"`
}

// dataSet summarises the generator manifest of the data directory.
type dataSet struct {
	// Shape and Billing are the generator's Config.Shape and Config.Billing.
	Shape           string `json:"shape"`
	Billing         bool   `json:"billing"`
	Bytes           int64  `json:"bytes"`
	Files           int    `json:"files"`
	Lines           int64  `json:"lines"`
	Sessions        int    `json:"sessions"`
	UsageLines      int64  `json:"usage_lines"`
	UniqueResponses int64  `json:"unique_responses"`
}

func formatValue(v float64, unit string, have bool) string {
	if !have {
		return "-"
	}
	if unit == "s" {
		return fmt.Sprintf("%.3fs", v)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

// printReport writes the human-readable report.
func printReport(w io.Writer, r *results) {
	if g := r.Generated; g != nil {
		shape := g.Shape
		if shape == "" {
			shape = gen.ShapeDefault // a manifest from before shapes
		}
		if g.Billing {
			shape += ", billing"
		}
		fmt.Fprintf(w, "data: %s (%s shape): %.1f MiB in %d files, %d lines, %d sessions, %d usage lines, %d unique responses\n",
			r.Data, shape, float64(g.Bytes)/(1<<20), g.Files, g.Lines, g.Sessions, g.UsageLines, g.UniqueResponses)
	} else {
		fmt.Fprintf(w, "data: %s (no generator manifest)\n", r.Data)
	}
	fmt.Fprintf(w, "runs: ccusage and ctm first index x%d (median), unchanged report x%d (median)\n\n", r.Runs, r.Repeats)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tctm\tccusage\tratio\tgoal\tresult")
	for _, g := range r.Goals {
		have := g.Result != resultNA
		ratio, target := "-", "-"
		if have {
			ratio = fmt.Sprintf("%.3fx", g.Ratio)
		}
		if g.Max > 0 {
			target = fmt.Sprintf("<= %.2fx", g.Max)
		}
		if g.Limit > 0 {
			target = fmt.Sprintf("<= %.0f ms", g.Limit*1000)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Metric,
			formatValue(g.CTM, g.Unit, have || g.CTM > 0), formatValue(g.CCUsage, g.Unit, have || g.CCUsage > 0),
			ratio, target, g.Result)
	}
	tw.Flush()
	for _, s := range []struct {
		name string
		s    *sample
	}{{"ccusage", &r.CCUsage}, {"ctm first index", &r.CTMFirst}, {"ctm unchanged report", &r.CTMAgain},
		{"ctm report after append", &r.CTMAppend}, {"ctm statusline", &r.CTMStatus}} {
		if s.s.Error != "" {
			fmt.Fprintf(w, "\n%s failed: %s\n", s.name, s.s.Error)
		}
	}

	fmt.Fprintln(w, "\ntoken totals:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "source\tinput\toutput\tcache_creation\tcache_read\ttotal\tcost_usd\t")
	for _, name := range []string{"expected", "ctm", "ccusage"} {
		t, ok := r.Totals[name]
		if !ok {
			continue
		}
		cost := fmt.Sprintf("%.2f", t.CostUSD)
		if name == "expected" {
			cost = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", name, t.Input, t.Output, t.CacheCreation, t.CacheRead, t.Total, cost)
	}
	tw.Flush()
	switch {
	case len(r.Totals) < 2:
		fmt.Fprintln(w, "token counts: nothing to compare")
	case len(r.Differences) == 0:
		fmt.Fprintln(w, "token counts: all sources agree on every day")
	default:
		fmt.Fprintf(w, "token counts: %d differences\n", len(r.Differences))
		const shown = 40
		for i, d := range r.Differences {
			if i == shown {
				fmt.Fprintf(w, "  ... %d more (see -json)\n", len(r.Differences)-shown)
				break
			}
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
}

func writeJSON(path string, r *results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}
