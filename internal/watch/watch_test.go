package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// recorder collects the batches a Watcher reports.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	signal  chan struct{}
	delay   time.Duration // how long each callback takes
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) onChange(ctx context.Context, paths []string) {
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(paths))
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
		}
	}
}

func (r *recorder) seen() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, b := range r.batches {
		for _, p := range b {
			m[p]++
		}
	}
	return m
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

// waitFor waits until every path has been reported at least once.
func (r *recorder) waitFor(t *testing.T, paths ...string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		seen := r.seen()
		missing := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return seen[p] > 0 })
		if len(missing) == 0 {
			return
		}
		select {
		case <-r.signal:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("paths %v never reported; batches: %v", missing, r.batches)
		}
	}
}

// start runs w until the test ends and waits until it is ready.
func start(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Run() = %v, want context.Canceled", err)
		}
	})
	select {
	case <-w.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("watcher never became ready")
	}
}

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(parts...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(line); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func newWatcher(t *testing.T, roots []string, rec *recorder, opts Options) *Watcher {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = 30 * time.Millisecond
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 40 * time.Millisecond
	}
	w, err := New(roots, rec.onChange, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// tree makes a Claude dir with one project and one transcript.
func tree(t *testing.T) (root, transcript string) {
	t.Helper()
	root = t.TempDir()
	proj := mkdir(t, root, "projects", "-home-u-app")
	transcript = filepath.Join(proj, "s1.jsonl")
	appendLine(t, transcript, "{}\n")
	return root, transcript
}

func TestWatchModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		mode string
	}{
		{"fsnotify", Options{}, ModeFSNotify},
		{"polling", Options{ForcePolling: true}, ModePolling},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, transcript := tree(t)
			rec := newRecorder()
			w := newWatcher(t, []string{root}, rec, tc.opts)
			start(t, w)
			if got := w.Mode(); got != tc.mode {
				t.Fatalf("Mode() = %q, want %q", got, tc.mode)
			}

			t.Run("append", func(t *testing.T) {
				appendLine(t, transcript, "{\"a\":1}\n")
				rec.waitFor(t, transcript)
			})
			t.Run("stats cache and history", func(t *testing.T) {
				sc := filepath.Join(root, "stats-cache.json")
				hist := filepath.Join(root, "history.jsonl")
				if err := os.WriteFile(sc, []byte(`{"version":2}`), 0o644); err != nil {
					t.Fatal(err)
				}
				appendLine(t, hist, "{}\n")
				rec.waitFor(t, sc, hist)
			})
			t.Run("new project and subagent folders", func(t *testing.T) {
				proj := mkdir(t, root, "projects", "-home-u-new")
				main := filepath.Join(proj, "s2.jsonl")
				appendLine(t, main, "{}\n")
				sub := mkdir(t, proj, "s2", "subagents", "workflows", "w1")
				agent := filepath.Join(sub, "agent-a1.jsonl")
				appendLine(t, agent, "{}\n")
				rec.waitFor(t, main, agent)
				// The new folders are watched: a later append is seen.
				before := rec.seen()[agent]
				appendLine(t, agent, "{\"b\":2}\n")
				deadline := time.Now().Add(10 * time.Second)
				for rec.seen()[agent] == before {
					if time.Now().After(deadline) {
						t.Fatalf("append to %s in a new folder never reported", agent)
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
			t.Run("others ignored", func(t *testing.T) {
				other := []string{
					filepath.Join(root, "settings.json"),
					filepath.Join(root, "projects", "-home-u-app", "notes.txt"),
					filepath.Join(root, "todos.jsonl"),
				}
				for _, p := range other {
					appendLine(t, p, "x\n")
				}
				marker := filepath.Join(root, "projects", "-home-u-app", "s3.jsonl")
				appendLine(t, marker, "{}\n")
				rec.waitFor(t, marker)
				seen := rec.seen()
				for _, p := range other {
					if seen[p] > 0 {
						t.Errorf("%s reported %d times, want never", p, seen[p])
					}
				}
			})
		})
	}
}

func TestWatchCoalescesBursts(t *testing.T) {
	root, transcript := tree(t)
	rec := newRecorder()
	w := newWatcher(t, []string{root}, rec, Options{Debounce: 300 * time.Millisecond})
	start(t, w)
	second := filepath.Join(filepath.Dir(transcript), "s2.jsonl")
	for i := range 20 {
		appendLine(t, transcript, "{}\n")
		if i == 10 {
			appendLine(t, second, "{}\n")
		}
	}
	rec.waitFor(t, transcript, second)
	time.Sleep(100 * time.Millisecond) // let a stray second batch show up
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.batches) != 1 {
		t.Fatalf("burst of 21 writes gave %d batches %v, want 1", len(rec.batches), rec.batches)
	}
	if want := []string{transcript, second}; !slices.Equal(rec.batches[0], want) {
		t.Errorf("batch = %v, want %v (sorted, distinct)", rec.batches[0], want)
	}
}

func TestWatchSlowCallbackLosesNothing(t *testing.T) {
	root, transcript := tree(t)
	rec := newRecorder()
	rec.delay = 200 * time.Millisecond
	w := newWatcher(t, []string{root}, rec, Options{})
	start(t, w)
	appendLine(t, transcript, "{}\n")
	rec.waitFor(t, transcript)
	// These arrive while the callback is busy with the first batch.
	other := filepath.Join(filepath.Dir(transcript), "s2.jsonl")
	appendLine(t, other, "{}\n")
	rec.waitFor(t, other)
	if n := rec.count(); n != 2 {
		t.Errorf("got %d batches, want 2", n)
	}
}

func TestWatchRootAppearsLater(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "claude")
	for _, opts := range []Options{{}, {ForcePolling: true}} {
		t.Run(w0(opts), func(t *testing.T) {
			_ = os.RemoveAll(root)
			rec := newRecorder()
			w := newWatcher(t, []string{root}, rec, opts)
			start(t, w)
			proj := mkdir(t, root, "projects", "p")
			transcript := filepath.Join(proj, "s.jsonl")
			appendLine(t, transcript, "{}\n")
			sc := filepath.Join(root, "stats-cache.json")
			appendLine(t, sc, "{}")
			rec.waitFor(t, transcript, sc)
		})
	}
}

func w0(o Options) string {
	if o.ForcePolling {
		return "polling"
	}
	return "fsnotify"
}

// limitAfter returns an addWatch hook that fails like a full inotify watch
// table after n successful adds.
func limitAfter(n int64) func(func(string) error, string) error {
	var adds atomic.Int64
	return func(add func(string) error, path string) error {
		if adds.Add(1) > n {
			return syscall.ENOSPC
		}
		return add(path)
	}
}

func TestWatchLimitFallsBackToPolling(t *testing.T) {
	t.Run("at start", func(t *testing.T) {
		root, transcript := tree(t)
		rec := newRecorder()
		w := newWatcher(t, []string{root}, rec, Options{})
		w.addWatch = limitAfter(1)
		start(t, w)
		waitMode(t, w, ModePolling)
		appendLine(t, transcript, "{}\n")
		rec.waitFor(t, transcript)
	})
	t.Run("while running", func(t *testing.T) {
		root, transcript := tree(t)
		rec := newRecorder()
		w := newWatcher(t, []string{root}, rec, Options{})
		w.addWatch = limitAfter(3) // root, projects, the project folder
		start(t, w)
		if got := w.Mode(); got != ModeFSNotify {
			t.Fatalf("Mode() = %q before the limit, want %q", got, ModeFSNotify)
		}
		proj := mkdir(t, root, "projects", "p2")
		waitMode(t, w, ModePolling)
		// Switching reports every file once: changes may have been missed.
		rec.waitFor(t, transcript)
		added := filepath.Join(proj, "s.jsonl")
		appendLine(t, added, "{}\n")
		rec.waitFor(t, added)
	})
}

func waitMode(t *testing.T, w *Watcher, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.Mode() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Mode() = %q, want %q", w.Mode(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKind(t *testing.T) {
	root := filepath.Join(t.TempDir(), "c")
	w, err := New([]string{root, root + "/"}, func(context.Context, []string) {}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.roots) != 1 {
		t.Errorf("duplicate roots kept: %v", w.roots)
	}
	for _, tc := range []struct {
		path string
		want Kind
	}{
		{filepath.Join(root, "projects", "p", "s.jsonl"), Transcript},
		{filepath.Join(root, "projects", "p", "s", "subagents", "agent-a.jsonl"), Transcript},
		{filepath.Join(root, "projects", "p", "history.jsonl"), Transcript},
		{filepath.Join(root, "stats-cache.json"), StatsCache},
		{filepath.Join(root, "history.jsonl"), History},
		{filepath.Join(root, "projects", "p", "stats-cache.json"), Unknown},
		{filepath.Join(root, "projects", "p", "s.txt"), Unknown},
		{filepath.Join(root, "todos", "x.jsonl"), Unknown},
		{filepath.Join(root, "projects.jsonl"), Unknown},
		{filepath.Join(root+"x", "projects", "s.jsonl"), Unknown},
	} {
		if got := w.Kind(tc.path); got != tc.want {
			t.Errorf("Kind(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	for k, want := range map[Kind]string{Unknown: "unknown", Transcript: "transcript", StatsCache: "stats-cache", History: "history"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestNewAndRunErrors(t *testing.T) {
	noop := func(context.Context, []string) {}
	if _, err := New(nil, noop, Options{}); err == nil {
		t.Error("New(no roots) succeeded, want error")
	}
	if _, err := New([]string{t.TempDir()}, nil, Options{}); err == nil {
		t.Error("New(nil callback) succeeded, want error")
	}
	w, err := New([]string{t.TempDir()}, noop, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start(t, w)
	if err := w.Run(context.Background()); err == nil {
		t.Error("second Run succeeded, want error")
	}
}

func TestOverflowReportsEverything(t *testing.T) {
	root, transcript := tree(t)
	sc := filepath.Join(root, "stats-cache.json")
	appendLine(t, sc, "{}")
	var logs strings.Builder
	w, err := New([]string{root}, func(context.Context, []string) {}, Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &coalescer{window: time.Hour, pending: map[string]struct{}{}}
	n := &notifier{w: w, c: c}
	n.handleError(context.Background(), fmt.Errorf("read: %w", fsnotify.ErrEventOverflow))
	if _, ok := c.pending[transcript]; !ok || len(c.pending) != 2 {
		t.Errorf("after overflow pending = %v, want %s and %s", c.pending, transcript, sc)
	}
	c.stop()
	n.handleError(context.Background(), errors.New("boom"))
	if !strings.Contains(logs.String(), "overflowed") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("log = %q, want the overflow and the error", logs.String())
	}
}
