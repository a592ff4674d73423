// Command ctm-gen writes a realistic, deterministic Claude Code data
// directory for tests and benchmarks:
//
//	ctm-gen -out DIR -size 600MB -seed 1 [-shape long] [-billing]
//
// Point CLAUDE_DIR (or ccusage's CLAUDE_CONFIG_DIR) at DIR. What was written,
// including the exact expected token totals, is recorded in DIR/.ctm-gen.json.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/claude-token-monitor/ctm/internal/gen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ctm-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (required); transcripts go to DIR/projects")
	size := fs.String("size", "600MB", "total transcript size, e.g. 50MB, 1.5GB (binary units)")
	seed := fs.Uint64("seed", 1, "random seed; the same seed and size write the same bytes")
	days := fs.Int("days", 60, "days of history (default 334 with -billing)")
	projects := fs.Int("projects", 30, "number of projects")
	end := fs.String("end", gen.DefaultEnd.Format(time.DateOnly), "last day (exclusive) of the history, YYYY-MM-DD (default "+gen.DefaultBillingEnd.Format(time.DateOnly)+" with -billing)")
	shape := fs.String("shape", gen.ShapeDefault, "session layout: "+gen.ShapeDefault+", or "+gen.ShapeLong+" (long sessions over many hours in few, large files)")
	billing := fs.Bool("billing", false, "write the models and usage fields of 2026 over a window spanning 2026, exercising every billing rule")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: ctm-gen -out DIR [-size 600MB] [-seed 1] [-shape default|long] [-billing] [-days 60] [-projects 30] [-end YYYY-MM-DD]")
		return 2
	}
	// Unset -days and -end leave the window to Generate, whose defaults
	// depend on -billing.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["days"] {
		*days = 0
	}
	n, err := gen.ParseSize(*size)
	if err != nil {
		fmt.Fprintf(stderr, "ctm-gen: -size: %v\n", err)
		return 2
	}
	endDay, err := time.Parse(time.DateOnly, *end)
	if err != nil {
		fmt.Fprintf(stderr, "ctm-gen: -end %q: want YYYY-MM-DD\n", *end)
		return 2
	}
	if !set["end"] {
		endDay = time.Time{}
	}
	if *shape != gen.ShapeDefault && *shape != gen.ShapeLong {
		fmt.Fprintf(stderr, "ctm-gen: -shape %q: want %s or %s\n", *shape, gen.ShapeDefault, gen.ShapeLong)
		return 2
	}
	began := time.Now()
	m, err := gen.Generate(ctx, gen.Config{
		Dir: *out, Size: n, Seed: *seed, Days: *days, Projects: *projects, End: endDay,
		Shape: *shape, Billing: *billing,
	})
	if err != nil {
		fmt.Fprintf(stderr, "ctm-gen: %v\n", err)
		return 1
	}
	elapsed := time.Since(began)
	fmt.Fprintf(stdout, "wrote %d bytes in %d files (%d lines, %d torn) in %s (%.0f MB/s)\n",
		m.Bytes, m.Files, m.Lines, m.TornLines, elapsed.Round(time.Millisecond), float64(m.Bytes)/1e6/elapsed.Seconds())
	fmt.Fprintf(stdout, "%d projects, %d sessions, %d usage lines, %d unique responses, %d total tokens\n",
		m.Projects, m.Sessions, m.UsageLines, m.UniqueResponses, m.Totals.Total())
	fmt.Fprintf(stdout, "manifest: %s/%s\n", *out, gen.ManifestName)
	return 0
}
