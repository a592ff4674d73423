// Package live keeps the store current while ctm serve runs: a watcher
// over the Claude data directories feeds changed transcripts to the
// ingester, a periodic catch-up covers any event the watcher missed, and
// every ingest that stores records is reported to a callback, which ctm
// serve uses to invalidate the server's cache and notify the WebSocket
// hub. ctm serve, the live benchmark and the tests all run this one loop.
package live

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/watch"
)

// DefaultRescanInterval is how often every Claude dir is walked although
// the watcher reports changes: a cheap safety net for a missed event.
const DefaultRescanInterval = 5 * time.Minute

// Options configures a Pipeline. Ingester and Roots are required.
type Options struct {
	// Ingester reads transcripts into the store.
	Ingester *ingest.Ingester
	// Roots are the Claude data directories to watch; they should be the
	// ones Ingester was built with.
	Roots []string
	// Changed is called after each ingest that stored records, with its
	// result: once per watcher batch and once per catch-up. Calls are
	// serialised, so Changed need not be safe for concurrent use. nil
	// does nothing.
	Changed func(ctx context.Context, res ingest.Result)
	// RescanInterval is the period of the full catch-up after the first
	// one; 0 means DefaultRescanInterval.
	RescanInterval time.Duration
	// Watch configures the watcher; its Logger defaults to Logger.
	Watch watch.Options
	// Logger receives ingest and catch-up errors; nil discards them.
	Logger *slog.Logger
}

// Pipeline is the watch -> ingest -> notify loop. Create it with New and
// start it with Run.
type Pipeline struct {
	opts       Options
	w          *watch.Watcher
	ready      chan struct{}
	readyOnce  sync.Once
	changedMu  sync.Mutex
	lastIngest atomic.Int64 // unix nanoseconds; 0 before the first store
}

// New builds a Pipeline. It fails when Ingester is nil or the watcher
// cannot be built (no root given, say).
func New(opts Options) (*Pipeline, error) {
	if opts.Ingester == nil {
		return nil, errors.New("live: Ingester is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Watch.Logger == nil {
		opts.Watch.Logger = opts.Logger
	}
	if opts.RescanInterval <= 0 {
		opts.RescanInterval = DefaultRescanInterval
	}
	p := &Pipeline{opts: opts, ready: make(chan struct{})}
	w, err := watch.New(opts.Roots, p.onChange, opts.Watch)
	if err != nil {
		return nil, err
	}
	p.w = w
	return p, nil
}

// Mode returns how the data files are watched, "fsnotify" or "polling".
func (p *Pipeline) Mode() string { return p.w.Mode() }

// Ready is closed once the watches are in place and the first catch-up has
// finished: from then on every append is picked up.
func (p *Pipeline) Ready() <-chan struct{} { return p.ready }

// LastIngest returns when an ingest last stored records, or the zero time.
func (p *Pipeline) LastIngest() time.Time {
	if n := p.lastIngest.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Run watches and catches up until ctx is done, then waits for a running
// ingest to return. It returns nil once ctx is done, or the watcher's error
// if it stops for another reason.
func (p *Pipeline) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		werr = p.w.Run(ctx)
		// A watcher that failed leaves nothing to catch up for.
		cancel()
	})
	wg.Go(func() {
		// Catch up once the watches are in place, so that nothing written
		// in between is missed.
		select {
		case <-p.w.Ready():
		case <-ctx.Done():
			return
		}
		p.keepIndexed(ctx)
	})
	wg.Wait()
	if werr != nil && !errors.Is(werr, context.Canceled) {
		return werr
	}
	return nil
}

// onChange ingests the transcripts of one watcher batch.
func (p *Pipeline) onChange(ctx context.Context, paths []string) {
	var transcripts []string
	for _, path := range paths {
		if p.w.Kind(path) == watch.Transcript {
			transcripts = append(transcripts, path)
		}
	}
	if len(transcripts) == 0 {
		return
	}
	res, err := p.opts.Ingester.IngestFiles(ctx, transcripts)
	if err != nil {
		if ctx.Err() == nil {
			p.opts.Logger.Error("live ingest", slog.Any("error", err))
		}
		return
	}
	p.ingested(ctx, res)
}

// keepIndexed catches up now and every RescanInterval until ctx ends,
// marking the pipeline ready after the first catch-up, failed or not.
func (p *Pipeline) keepIndexed(ctx context.Context) {
	KeepIndexed(ctx, p.opts.Ingester, p.opts.RescanInterval, p.opts.Logger, func(res ingest.Result, err error) {
		if err == nil {
			p.ingested(ctx, res)
		}
		p.markReady()
	})
}

// KeepIndexed catches in up now and then every interval until ctx ends,
// without a watcher, for a process that needs the index current but not
// at once (ctm push --watch). It logs a failed catch-up and calls after,
// when not nil, with each catch-up's result or error.
func KeepIndexed(ctx context.Context, in *ingest.Ingester, interval time.Duration, logger *slog.Logger,
	after func(res ingest.Result, err error)) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := in.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			logger.Error("catch up", slog.Any("error", err))
		} else if res.Written > 0 {
			logger.Info("indexed", slog.Int("files", res.FilesChanged), slog.Int64("records", res.Written),
				slog.Int64("bad_lines", res.BadLines), slog.Duration("duration", res.Duration.Round(time.Millisecond)))
		}
		if after != nil {
			after(res, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pipeline) markReady() { p.readyOnce.Do(func() { close(p.ready) }) }

// ingested records and reports an ingest that stored records.
func (p *Pipeline) ingested(ctx context.Context, res ingest.Result) {
	if res.Written == 0 {
		return
	}
	p.lastIngest.Store(time.Now().UnixNano())
	if p.opts.Changed == nil {
		return
	}
	// The watcher batch and the catch-up run on different goroutines;
	// serialising here spares every consumer its own lock.
	p.changedMu.Lock()
	defer p.changedMu.Unlock()
	p.opts.Changed(ctx, res)
}
