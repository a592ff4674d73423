package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/config"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"time"

	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// runExport implements "ctm export": the same CSV or JSON as the API's
// export route, produced in-process by the server's own handler so that the
// two can never disagree.
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
	a, code := env.openApp(ctx, fs, args, config.DataFlags, false)
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
	srv, err := server.New(server.Options{
		Store: a.store, Pricer: a.prices, DisplayName: a.prices.DisplayName,
		// The in-process request is not an HTTP request worth logging.
		Logger: slog.New(slog.DiscardHandler), Location: a.loc, APIPrefix: a.cfg.APIPrefix, Version: resolveVersion(),
	})
	if err != nil {
		return a.fail(err)
	}
	q := url.Values{"format": {*format}, "granularity": {*granularity}}
	for k, v := range map[string]string{"start_date": *since, "end_date": *until, "fields": *fields} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *breakdown {
		q.Set("breakdown", "model")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.APIPrefix+"/export?"+q.Encode(), nil)
	if err != nil {
		return a.fail(err)
	}
	req.Host = "localhost"
	rec := &bufferResponse{header: http.Header{}, status: http.StatusOK}
	srv.Handler().ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		var env struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(rec.body.Bytes(), &env) == nil && env.Error.Message != "" {
			return a.fail(usage.Errorf(usage.EINVALID, "%s", env.Error.Message))
		}
		return a.fail(fmt.Errorf("export failed with status %d", rec.status))
	}
	if *format == "json" {
		// Scripts want the export itself, not the API's envelope.
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(rec.body.Bytes(), &env); err != nil {
			return a.fail(fmt.Errorf("export: %w", err))
		}
		rec.body.Reset()
		if err := json.Indent(&rec.body, env.Data, "", "  "); err != nil {
			return a.fail(fmt.Errorf("export: %w", err))
		}
		rec.body.WriteByte('\n')
	}
	if rows := exportedRows(*format, rec.body.Bytes()); rows == 0 {
		if err := noteEmptyExport(ctx, a, rec.header.Get("Content-Disposition")); err != nil {
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
	if _, err := rec.body.WriteTo(w); err != nil {
		return a.fail(err)
	}
	if *output != "" {
		fmt.Fprintf(env.stderr, "wrote %s\n", *output)
	}
	return 0
}

// exportedRows counts the data rows of an export body: CSV lines after the
// header, or the JSON export's records.
func exportedRows(format string, body []byte) int {
	if format == "json" {
		var exp struct {
			Records []json.RawMessage `json:"records"`
		}
		if json.Unmarshal(body, &exp) != nil {
			return -1
		}
		return len(exp.Records)
	}
	return max(bytes.Count(bytes.TrimRight(body, "\n"), []byte("\n")), 0)
}

// exportSpan matches the dates in the export's file name.
var exportSpan = regexp.MustCompile(`(\d{4}-\d{2}-\d{2})-to-(\d{4}-\d{2}-\d{2})`)

// noteEmptyExport explains an export that holds only a header, which
// otherwise looks like a bug: the default range is the last 30 days, and
// Claude Code's transcripts may all be older. It names the range exported
// (from the file name the handler chose) and the range the data covers.
func noteEmptyExport(ctx context.Context, a *app, disposition string) error {
	span := "the selected days"
	if m := exportSpan.FindStringSubmatch(disposition); m != nil {
		span = m[1] + " and " + m[2]
	}
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

// bufferResponse is an http.ResponseWriter that keeps the response in
// memory, for running a handler in-process.
type bufferResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferResponse) Header() http.Header         { return b.header }
func (b *bufferResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferResponse) WriteHeader(status int)      { b.status = status }
