// Package watch notices changes to the files Claude Code writes under its
// data directories (transcripts, stats-cache.json, history.jsonl) and
// reports them in coalesced batches. It uses file-system events where the
// platform provides them and falls back to polling where it does not, or
// where the watch limit is reached. It reads no file contents: what to do
// with a changed file is up to the callback.
package watch

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-token-monitor/ctm/internal/source"
	"github.com/claude-token-monitor/ctm/internal/source/claude"
)

// Modes reported by Watcher.Mode.
const (
	// ModeFSNotify means changes arrive as file-system events.
	ModeFSNotify = "fsnotify"
	// ModePolling means the trees are walked every PollInterval.
	ModePolling = "polling"
)

// Default values of Options fields.
const (
	DefaultDebounce     = 75 * time.Millisecond
	DefaultPollInterval = 2 * time.Second
)

// Log attribute keys.
const (
	logKeyDir   = "dir"
	logKeyPath  = "path"
	logKeyError = "error"
	logKeyMode  = "mode"
	logKeyFiles = "files"
)

// Kind says what a changed file is; the source's layout decides.
type Kind = source.Kind

// Kinds a Watcher reports, as its source classifies them.
const (
	// Unknown is a path the watcher does not report.
	Unknown = source.Unknown
	// Transcript is a session or subagent transcript.
	Transcript = source.Transcript
	// StatsCache is a root's stats cache.
	StatsCache = source.StatsCache
	// History is a root's prompt history.
	History = source.History
)

// Options tune a Watcher. Zero values take the defaults.
type Options struct {
	// Debounce is how long changes are gathered after the first one before
	// they are reported together (default 75 ms). Claude Code appends a
	// line per streamed content block, so a response arrives as a burst.
	Debounce time.Duration
	// PollInterval is the period of the stat walk in polling mode, and of
	// the check for data directories that do not exist yet (default 2 s).
	PollInterval time.Duration
	// ForcePolling skips file-system events and polls from the start.
	ForcePolling bool
	// Logger receives the mode, fallbacks and errors; nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Func receives a batch of changed files: absolute, clean, sorted and
// distinct paths. It runs on a goroutine of its own, one batch at a time;
// changes that happen meanwhile are gathered into the next batch.
type Func func(ctx context.Context, paths []string)

// root is one data directory of the source.
type root struct {
	dir      string   // absolute
	projects string   // the tree that holds transcripts
	top      []string // files at the top of dir that are watched
}

// Watcher reports changes under a set of Claude data directories. Create it
// with New and start it with Run.
type Watcher struct {
	src      source.Source
	roots    []root
	onChange Func
	opts     Options
	log      *slog.Logger
	mode     atomic.Value // string
	ready    chan struct{}
	readyMu  sync.Once
	running  atomic.Bool

	// addWatch adds a file-system watch; tests replace it to simulate the
	// inotify watch limit.
	addWatch func(add func(string) error, path string) error
}

// New returns a Watcher over roots that calls onChange with each batch of
// changed files. It fails when no root is given, a root cannot be made
// absolute, or onChange is nil.
func New(roots []string, onChange Func, opts Options) (*Watcher, error) {
	if len(roots) == 0 {
		return nil, errors.New("watch: no Claude data directory given")
	}
	for _, r := range roots {
		if _, err := filepath.Abs(r); err != nil {
			return nil, errors.Join(errors.New("watch: resolve "+r), err)
		}
	}
	return NewFromSource(claude.New(roots), onChange, opts)
}

// NewFromSource returns a Watcher over the roots of src that calls onChange
// with each batch of changed files src knows. It fails when src has no
// root or onChange is nil.
func NewFromSource(src source.Source, onChange Func, opts Options) (*Watcher, error) {
	if len(src.Roots()) == 0 {
		return nil, errors.New("watch: no Claude data directory given")
	}
	if onChange == nil {
		return nil, errors.New("watch: nil change callback")
	}
	opts = opts.withDefaults()
	w := &Watcher{
		src:      src,
		onChange: onChange,
		opts:     opts,
		log:      opts.Logger,
		ready:    make(chan struct{}),
		addWatch: func(add func(string) error, path string) error { return add(path) },
	}
	for _, dir := range src.Roots() {
		tree, top := src.WatchDirs(dir)
		w.roots = append(w.roots, root{dir: dir, projects: tree, top: top})
	}
	if opts.ForcePolling {
		w.mode.Store(ModePolling)
	} else {
		w.mode.Store(ModeFSNotify)
	}
	return w, nil
}

// Mode returns how changes are detected: ModeFSNotify or ModePolling. It
// changes from ModeFSNotify to ModePolling when events turn out to be
// unavailable or the watch limit is reached.
func (w *Watcher) Mode() string { return w.mode.Load().(string) }

// Ready is closed once Run has set up its watches (or taken its first
// polling inventory). A catch-up ingest started after Ready misses nothing:
// any change after that point is reported.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

func (w *Watcher) markReady() { w.readyMu.Do(func() { close(w.ready) }) }

// Kind returns what path is to the watcher, as its source classifies it:
// for Claude Code a transcript (a .jsonl file under <root>/projects), the
// stats cache or the prompt history of a root, or Unknown.
func (w *Watcher) Kind(path string) Kind { return w.src.Classify(path) }

// within reports whether path is dir or below it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel) // "." is local
}

// Run watches until ctx is done, then waits for a running callback to
// return. It returns ctx's error, or an error if Run is already running.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("watch: already running")
	}
	defer w.running.Store(false)

	batches := make(chan []string)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		// The callback runs here so that a slow ingest never stalls the
		// event loop: events keep being drained and gathered.
		for b := range batches {
			w.onChange(ctx, b)
			select {
			case done <- struct{}{}:
			case <-ctx.Done():
			}
		}
	})
	c := &coalescer{window: w.opts.Debounce, out: batches, done: done, pending: map[string]struct{}{}}
	defer func() {
		c.stop()
		close(batches)
		wg.Wait()
	}()

	if w.Mode() == ModeFSNotify {
		err := w.runNotify(ctx, c)
		if !errors.Is(err, errFallback) {
			return err
		}
		w.mode.Store(ModePolling)
	}
	w.log.Info("watching Claude data by polling", slog.String(logKeyMode, ModePolling),
		slog.Duration("interval", w.opts.PollInterval))
	return w.runPoll(ctx, c)
}

// coalescer gathers changed paths and hands them to the callback goroutine
// at most once per window, and never while it is still busy.
type coalescer struct {
	window  time.Duration
	out     chan<- []string
	done    <-chan struct{}
	pending map[string]struct{}
	since   time.Time // when the oldest pending change arrived
	timer   *time.Timer
	timerC  <-chan time.Time // nil unless armed
	busy    bool
}

// add records changed paths; the first change of a batch opens its window.
// The window is not extended by later changes, so a file that is written
// continuously is still reported every window.
func (c *coalescer) add(paths ...string) {
	if len(paths) == 0 {
		return
	}
	if len(c.pending) == 0 {
		c.since = time.Now()
		if !c.busy {
			c.arm(c.window)
		}
	}
	for _, p := range paths {
		c.pending[p] = struct{}{}
	}
}

func (c *coalescer) arm(d time.Duration) {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	c.timerC = c.timer.C
}

func (c *coalescer) stop() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timerC = nil
}

// fire hands the pending batch to the callback goroutine, which is idle
// whenever fire is called.
func (c *coalescer) fire(ctx context.Context) {
	c.timerC = nil
	if len(c.pending) == 0 || c.busy {
		return
	}
	batch := make([]string, 0, len(c.pending))
	for p := range c.pending {
		batch = append(batch, p)
	}
	slices.Sort(batch)
	clear(c.pending)
	select {
	case c.out <- batch:
		c.busy = true
	case <-ctx.Done():
	}
}

// finished is called when the callback returns: changes gathered meanwhile
// go out as soon as their window has passed.
func (c *coalescer) finished(ctx context.Context) {
	c.busy = false
	if len(c.pending) == 0 {
		return
	}
	if wait := c.window - time.Since(c.since); wait > 0 {
		c.arm(wait)
		return
	}
	c.fire(ctx)
}
