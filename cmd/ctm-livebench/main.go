// Command ctm-livebench measures the live path of DESIGN.md §7: the time from
// an fsync'd append to a transcript until the stats_update reaches
// WebSocket clients. It builds the pipeline ctm serve runs, in process: a
// SQLite store in a temp dir, the ingester, the file watcher, the hub and
// the HTTP server on a loopback port, then connects N clients and appends
// one assistant line at a time, waiting for every client to see it.
//
//	ctm-livebench [-clients 100] [-appends 200] [-seed 20000] [-polling]
//
// It prints p50/p95/p99/max of the latency at all clients, at the first
// and at the last client of each append, and whether p95 meets the 250 ms
// goal. Figures are printed, never asserted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	clients, appends, seed int
	debounce, timeout      time.Duration
	polling                bool
}

// goal is the DESIGN.md §7 bound on p95 latency.
const goal = 250 * time.Millisecond

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("ctm-livebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.clients, "clients", 100, "WebSocket clients connected")
	fs.IntVar(&c.appends, "appends", 200, "transcript lines appended, one at a time")
	fs.IntVar(&c.seed, "seed", 20_000, "records stored before measuring, so that /stats has real work")
	fs.DurationVar(&c.debounce, "debounce", 0, "watcher debounce (0: the watcher's default)")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "how long to wait for one append to reach every client")
	fs.BoolVar(&c.polling, "polling", false, "watch by polling instead of file events")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.clients < 1:
		return c, fmt.Errorf("-clients %d: must be at least 1", c.clients)
	case c.appends < 1:
		return c, fmt.Errorf("-appends %d: must be at least 1", c.appends)
	case c.seed < 0:
		return c, fmt.Errorf("-seed %d: must not be negative", c.seed)
	case c.timeout <= 0:
		return c, fmt.Errorf("-timeout %v: must be positive", c.timeout)
	}
	return c, nil
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "ctm-livebench:", err)
		return 2
	}
	res, err := measure(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "ctm-livebench:", err)
		return 1
	}
	res.print(stdout, cfg)
	return 0
}
