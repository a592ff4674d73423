package watch

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// signature is what polling compares to decide that a file changed.
type signature struct {
	size    int64
	modTime time.Time
}

// scan stats every file of interest under the roots. It stops early, with
// what it has, when ctx is done.
func (w *Watcher) scan(ctx context.Context) map[string]signature {
	files := map[string]signature{}
	put := func(path string, fi fs.FileInfo) {
		files[path] = signature{size: fi.Size(), modTime: fi.ModTime()}
	}
	for _, r := range w.roots {
		for _, p := range r.top {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				put(p, fi)
			}
		}
		if fi, err := os.Stat(r.projects); err != nil || !fi.IsDir() {
			continue
		}
		_ = fs.WalkDir(os.DirFS(r.projects), ".", func(rel string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return fs.SkipAll
			}
			if err != nil || d.IsDir() {
				return nil // an unreadable folder is skipped, the rest walked
			}
			p := filepath.Join(r.projects, filepath.FromSlash(rel))
			if w.Kind(p) != Transcript {
				return nil
			}
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				put(p, fi)
			}
			return nil
		})
	}
	return files
}

// inventory returns every file of interest that exists now.
func (w *Watcher) inventory(ctx context.Context) []string {
	files := w.scan(ctx)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	return paths
}

// runPoll walks the roots every PollInterval and reports the files that
// are new or whose size or modification time changed. When Run fell back
// from file events, the first walk reports every file, since changes may
// have been missed while switching; otherwise it is the baseline.
func (w *Watcher) runPoll(ctx context.Context, c *coalescer) error {
	fellBack := isClosed(w.ready)
	prev := w.scan(ctx)
	if fellBack {
		for p := range prev {
			c.add(p)
		}
	}
	w.markReady()
	t := time.NewTicker(w.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			cur := w.scan(ctx)
			for p, sig := range cur {
				if old, ok := prev[p]; !ok || old.size != sig.size || !old.modTime.Equal(sig.modTime) {
					c.add(p)
				}
			}
			prev = cur
		case <-c.timerC:
			c.fire(ctx)
		case <-c.done:
			c.finished(ctx)
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
