package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// runExport implements "ctm export": the same CSV or JSON as the API's
// export route, from the same view, so that the two can never disagree.
func runExport(ctx context.Context, args []string, env *environ) int {
	fs := newFlagSet("export", env.stderr, "ctm export [--format csv|json] [--since D] [--until D] [-o FILE]",
		"Exports usage per day or hour as CSV or JSON (default: the last 30 days, CSV, to stdout).")
	format := fs.String("format", "csv", "csv or json")
	since := fs.String("since", "", "first `day`, YYYY-MM-DD or YYYYMMDD")
	until := fs.String("until", "", "last `day`, YYYY-MM-DD or YYYYMMDD")
	granularity := fs.String("granularity", "day", "day or hour")
	fields := fs.String("fields", "", "comma list of fields (default: all)")
	breakdown := fs.Bool("breakdown", false, "one row per model")
	output := fs.String("o", "", "write to this `file` instead of stdout")
	a, code := env.openApp(ctx, fs, args, config.DataFlags, catchUpLater)
	if a == nil {
		return code
	}
	defer a.close()
	if err := normalizeDays(since, until); err != nil {
		return a.fail(err)
	}
	if err := a.catchUp(ctx, env.isatty(env.stderr)); err != nil {
		return a.fail(err)
	}
	var fieldList []string
	if *fields != "" {
		for f := range strings.SplitSeq(*fields, ",") {
			fieldList = append(fieldList, strings.TrimSpace(f))
		}
	}
	q := views.ExportQuery{Format: *format, StartDate: *since, EndDate: *until, Granularity: *granularity, Fields: fieldList}
	if *breakdown {
		q.Breakdown = "model"
	}
	e, err := a.views(nil).Export(ctx, q)
	if err != nil {
		return a.fail(err)
	}
	var body []byte
	if e.Format == "json" {
		body, err = json.MarshalIndent(e, "", "  ")
		body = append(body, '\n')
	} else {
		body, err = e.CSV()
	}
	if err != nil {
		return a.fail(fmt.Errorf("export: %w", err))
	}
	if len(e.Records) == 0 {
		if err := noteEmptyExport(ctx, a, e.DateRange); err != nil {
			return a.fail(err)
		}
	}
	var w io.Writer = a.stdout
	if *output != "" {
		f, err := os.Create(*output)
		if err != nil {
			return a.fail(err)
		}
		defer f.Close()
		w = f
	}
	if _, err := w.Write(body); err != nil {
		return a.fail(err)
	}
	if *output != "" {
		fmt.Fprintf(env.stderr, "wrote %s\n", *output)
	}
	return 0
}

// noteEmptyExport explains an export that holds only a header, which
// otherwise looks like a bug: the default range is the last 30 days, and
// Claude Code's transcripts may all be older. It names the range exported
// and the range the data covers.
func noteEmptyExport(ctx context.Context, a *app, r views.DateRange) error {
	span := r.Start + " and " + r.End
	first, err := a.store.Records(ctx, usage.Filter{}, usage.Page{Limit: 1})
	if err != nil {
		return err
	}
	last, err := a.store.LatestTimestamp(ctx)
	if err != nil {
		return err
	}
	if len(first) == 0 || last.IsZero() {
		fmt.Fprintf(a.stderr, "ctm export: no usage between %s; nothing is recorded yet\n", span)
		return nil
	}
	fmt.Fprintf(a.stderr, "ctm export: no usage between %s; the data runs from %s to %s (use --since and --until)\n",
		span, first[0].Timestamp.In(a.loc).Format(time.DateOnly), last.In(a.loc).Format(time.DateOnly))
	return nil
}
