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
	"strings"
	"sync"
	"sync/atomic"
	"time"
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

// Kind says what a changed file is.
type Kind int

const (
	// Unknown is a path the watcher does not report.
	Unknown Kind = iota
	// Transcript is a session or subagent transcript under <root>/projects.
	Transcript
	// StatsCache is <root>/stats-cache.json.
	StatsCache
	// History is <root>/history.jsonl.
	History
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Transcript:
		return "transcript"
	case StatsCache:
		return "stats-cache"
	case History:
		return "history"
	}
	return "unknown"
}

// File names Claude Code writes at the top of a data directory.
const (
	statsCacheName = "stats-cache.json"
	historyName    = "history.jsonl"
	projectsName   = "projects"
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

// root is one Claude data directory.
type root struct {
	dir      string // absolute
	projects string // dir/projects
}

// Watcher reports changes under a set of Claude data directories. Create it
// with New and start it with Run.
type Watcher struct {
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
	if onChange == nil {
		return nil, errors.New("watch: nil change callback")
	}
	opts = opts.withDefaults()
	w := &Watcher{
		onChange: onChange,
		opts:     opts,
		log:      opts.Logger,
		ready:    make(chan struct{}),
		addWatch: func(add func(string) error, path string) error { return add(path) },
	}
	seen := map[string]bool{}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, errors.Join(errors.New("watch: resolve "+r), err)
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		w.roots = append(w.roots, root{dir: abs, projects: filepath.Join(abs, projectsName)})
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

// Kind returns what path is to the watcher: a transcript (a .jsonl file
// under <root>/projects), the stats cache or the prompt history of a root,
// or Unknown.
func (w *Watcher) Kind(path string) Kind {
	path = filepath.Clean(path)
	dir, base := filepath.Split(path)
	dir = filepath.Clean(dir)
	for _, r := range w.roots {
		switch {
		case dir == r.dir && base == statsCacheName:
			return StatsCache
		case dir == r.dir && base == historyName:
			return History
		case strings.HasSuffix(base, ".jsonl") && within(r.projects, path) && path != r.projects:
			return Transcript
		}
	}
	return Unknown
}

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
