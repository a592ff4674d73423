// Command ctm-bench measures ctm side by side with ccusage on one Claude
// Code data directory and prints the DESIGN.md §7 ratios:
//
//	ctm-bench -data DIR -ctm PATH/TO/ctm [-ccusage ../shared/tools/ccusage.sh] [-runs N] [-json FILE]
//	ctm-bench -summary FILE.json...   (one table of earlier -json results)
//
// Every measured command is a child process with a fresh environment: HOME
// is a new temp dir, CLAUDE_DIR=DIR, DATABASE_PATH a fresh file, TZ=UTC.
// It measures (a) ccusage daily --json, which re-reads everything on every
// run, (b) ctm daily --json on an empty database (first index) and (c) ctm
// daily --json again on the indexed, unchanged tree. Wall time and peak RSS
// of each process tree are reported as medians; the figures are printed,
// never asserted. It also checks that both tools (and the generator's
// manifest, when DIR has one) agree on the token counts of every day.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/claude-token-monitor/ctm/internal/gen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	data, ctm, ccusage, jsonOut string
	runs, repeats               int
	ccusageHome                 string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("ctm-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.data, "data", "", "Claude data directory to measure (required), e.g. from ctm-gen")
	fs.StringVar(&c.ctm, "ctm", "", "path to the ctm binary; without it only ccusage is measured")
	fs.StringVar(&c.ccusage, "ccusage", "../shared/tools/ccusage.sh", "path to the ccusage wrapper script (default: beside the repository); empty to skip")
	fs.IntVar(&c.runs, "runs", 3, "measured runs of ccusage and of the ctm first index")
	fs.IntVar(&c.repeats, "repeat", 5, "measured runs of the ctm unchanged-tree report")
	fs.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.data == "":
		return c, errors.New("-data is required")
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.runs < 1 || c.repeats < 1:
		return c, errors.New("-runs and -repeat must be at least 1")
	case c.ctm == "" && c.ccusage == "":
		return c, errors.New("nothing to measure: give -ctm and/or -ccusage")
	}
	abs, err := filepath.Abs(c.data)
	if err != nil {
		return c, fmt.Errorf("-data %q: %w", c.data, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return c, fmt.Errorf("-data %q is not a directory", c.data)
	}
	c.data = abs
	for _, p := range []*string{&c.ctm, &c.ccusage} {
		if *p == "" {
			continue
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return c, err
		}
		if _, err := os.Stat(*p); err != nil {
			return c, fmt.Errorf("%s: %w", *p, err)
		}
	}
	c.ccusageHome = os.Getenv("CCUSAGE_HOME")
	if h, err := os.UserHomeDir(); c.ccusageHome == "" && err == nil {
		c.ccusageHome = filepath.Join(h, ".cache", "ctm-ccusage")
	}
	return c, nil
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "-summary" {
		// ctm-bench -summary FILE.json...: one table of earlier -json runs.
		if err := summarize(stdout, args[1:]); err != nil {
			fmt.Fprintf(stderr, "ctm-bench: %v\n", err)
			return 1
		}
		return 0
	}
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ctm-bench: %v\n", err)
		return 2
	}
	work, err := os.MkdirTemp("", "ctm-bench-")
	if err != nil {
		fmt.Fprintf(stderr, "ctm-bench: %v\n", err)
		return 1
	}
	defer os.RemoveAll(work)
	r, err := bench(ctx, c, work, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ctm-bench: %v\n", err)
		return 1
	}
	printReport(stdout, r)
	if c.jsonOut != "" {
		if err := writeJSON(c.jsonOut, r); err != nil {
			fmt.Fprintf(stderr, "ctm-bench: %v\n", err)
			return 1
		}
	}
	for _, s := range []*sample{&r.CCUsage, &r.CTMFirst, &r.CTMAgain} {
		if s.Error != "" {
			return 1
		}
	}
	return 0
}

// sandbox is a fresh HOME, working directory and database path for one
// child process, so that no run sees another's state, the real home, or a
// .env file in the caller's directory.
type sandbox struct{ home, db string }

func newSandbox(work string, n *int) (sandbox, error) {
	*n++
	dir := filepath.Join(work, fmt.Sprintf("run-%02d", *n))
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o755); err != nil {
		return sandbox{}, err
	}
	return sandbox{home: filepath.Join(dir, "home"), db: filepath.Join(dir, "monitor.db")}, nil
}

// bench runs every scenario; progress goes to log.
func bench(ctx context.Context, c config, work string, log io.Writer) (*results, error) {
	r := &results{Data: c.data, Started: time.Now().UTC(), Runs: c.runs, Repeats: c.repeats, Totals: map[string]tokens{}}
	var expected *tokens
	if m, err := gen.ReadManifest(c.data); err == nil {
		r.Generated = &dataSet{Shape: m.Shape, Billing: m.Billing, Bytes: m.Bytes, Files: m.Files, Lines: m.Lines, Sessions: m.Sessions, UsageLines: m.UsageLines, UniqueResponses: m.UniqueResponses}
		t := manifestTokens(m)
		expected = &t
		r.Totals["expected"] = t
	}
	n := 0
	measureIn := func(sb sandbox, argv []string) (run, error) {
		return measure(ctx, argv, childEnv(sb.home, c.data, sb.db, c.ccusageHome), sb.home)
	}

	var ccOut, ctmOut []byte
	// extra is a second Claude directory that ctm reads beside the data
	// set: empty for the first index and the unchanged report, then
	// given 1 MB of new transcripts before each after-append report, so
	// that the cached data set itself is never written.
	extra := filepath.Join(work, "extra")
	if err := os.MkdirAll(filepath.Join(extra, "projects"), 0o755); err != nil {
		return nil, err
	}
	ctmEnv := func(sb sandbox) []string {
		return childEnv(sb.home, c.data+","+extra, sb.db, c.ccusageHome)
	}
	ccArgv := []string{c.ccusage, c.data, "claude", "daily", "--json"}
	ctmArgv := []string{c.ctm, "daily", "--json"}
	if c.ccusage != "" {
		// An unmeasured warm-up installs ccusage if needed, with this
		// process's environment (see installEnv). The first run after
		// ccusage.sh installed it on a new machine has been seen to
		// fail, and the next to succeed: one failure is logged and the
		// warm-up tried again.
		for attempt := 1; ; attempt++ {
			fmt.Fprintln(log, "ccusage: warm-up run")
			sb, err := newSandbox(work, &n)
			if err != nil {
				return nil, err
			}
			_, err = measure(ctx, ccArgv, installEnv(childEnv(sb.home, c.data, sb.db, c.ccusageHome)), sb.home)
			if err == nil {
				break
			}
			if attempt == warmUpAttempts {
				r.CCUsage.Error = err.Error()
				break
			}
			fmt.Fprintf(log, "ccusage: warm-up failed, trying again: %v\n", err)
		}
	}
	// Every first-index run of either tool starts with the data set in
	// the page cache (see warmCache).
	warmed := false
	warm := func() {
		bytes, took, err := warmCache(ctx, c.data)
		if err != nil {
			fmt.Fprintf(log, "page cache: %v\n", err)
		} else if !warmed {
			warmed = true
			fmt.Fprintf(log, "page cache: read %.1f MiB of the data set in %v\n", float64(bytes)/(1<<20), took.Round(time.Millisecond))
		}
	}
	// ccusage and the ctm first index alternate, so that a change in
	// the machine's load falls on both.
	var last sandbox
	for i := 0; i < c.runs; i++ {
		if c.ccusage != "" && r.CCUsage.Error == "" {
			fmt.Fprintf(log, "ccusage: run %d/%d\n", i+1, c.runs)
			sb, err := newSandbox(work, &n)
			if err != nil {
				return nil, err
			}
			warm()
			if got, err := measureIn(sb, ccArgv); err != nil {
				r.CCUsage.Error = err.Error()
			} else {
				r.CCUsage.add(got)
				ccOut = got.stdout
			}
		}
		if c.ctm != "" && r.CTMFirst.Error == "" {
			fmt.Fprintf(log, "ctm: first index %d/%d\n", i+1, c.runs)
			sb, err := newSandbox(work, &n)
			if err != nil {
				return nil, err
			}
			warm()
			if got, err := measure(ctx, ctmArgv, ctmEnv(sb), sb.home); err != nil {
				r.CTMFirst.Error = err.Error()
			} else {
				r.CTMFirst.add(got)
				ctmOut, last = got.stdout, sb
			}
		}
	}
	if c.ctm != "" {
		for i := 0; i < c.repeats && r.CTMFirst.ok(); i++ {
			fmt.Fprintf(log, "ctm: unchanged report %d/%d\n", i+1, c.repeats)
			// Same database and data: only the incremental catch-up runs.
			got, err := measure(ctx, ctmArgv, ctmEnv(last), last.home)
			if err != nil {
				r.CTMAgain.Error = err.Error()
				break
			}
			r.CTMAgain.add(got)
		}
		for i := 0; i < c.repeats && r.CTMAgain.ok(); i++ {
			fmt.Fprintf(log, "ctm: report after a 1 MB append %d/%d\n", i+1, c.repeats)
			if err := appendMB(ctx, extra, work, i); err != nil {
				r.CTMAppend.Error = err.Error()
				break
			}
			got, err := measure(ctx, ctmArgv, ctmEnv(last), last.home)
			if err != nil {
				r.CTMAppend.Error = err.Error()
				break
			}
			r.CTMAppend.add(got)
		}
		if r.CTMAppend.ok() {
			fmt.Fprintf(log, "ctm: statusline x%d while ctm serve runs\n", c.repeats)
			if err := statuslineRuns(ctx, c, ctmEnv(last), last.home, &r.CTMStatus); err != nil {
				r.CTMStatus.Error = err.Error()
			}
		}
	}
	r.Goals = goals(&r.CCUsage, &r.CTMFirst, &r.CTMAgain, &r.CTMAppend, &r.CTMStatus)

	reports := map[string]daily{}
	if ccOut != nil {
		if d, err := parseCCUsage(ccOut); err != nil {
			r.Differences = append(r.Differences, err.Error())
		} else {
			reports["ccusage"] = d
			r.Totals["ccusage"] = d.Totals
		}
	}
	if ctmOut != nil {
		if d, err := parseCTM(ctmOut); err != nil {
			r.Differences = append(r.Differences, err.Error())
		} else {
			reports["ctm"] = d
			r.Totals["ctm"] = d.Totals
		}
	}
	cc, haveCC := reports["ccusage"]
	ct, haveCT := reports["ctm"]
	if haveCC && haveCT {
		r.Differences = append(r.Differences, compareDaily("ctm", ct, "ccusage", cc)...)
	}
	if expected != nil {
		for _, name := range []string{"ctm", "ccusage"} {
			if d, ok := reports[name]; ok {
				for _, diff := range tokenDiffs(*expected, d.Totals) {
					r.Differences = append(r.Differences, fmt.Sprintf("totals %s (expected vs %s)", diff, name))
				}
			}
		}
	}
	if r.Differences == nil {
		r.Differences = []string{}
	}
	return r, nil
}
