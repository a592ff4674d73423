package watch

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// errFallback asks Run to continue in polling mode.
var errFallback = errors.New("watch: fall back to polling")

// eventBuffer is the length of fsnotify's event channel. A buffer lets the
// kernel queue drain while the loop is busy adding watches for a new tree.
const eventBuffer = 1024

// isLimit reports whether err means the platform ran out of watches or
// watch instances (inotify's max_user_watches / max_user_instances).
func isLimit(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE)
}

// notifier is the fsnotify mode of a Watcher.
type notifier struct {
	w  *Watcher
	fw *fsnotify.Watcher
	c  *coalescer
	// missing lists roots that did not exist when last checked.
	missing []root
}

// runNotify watches with fsnotify until ctx is done (it returns ctx's
// error) or fsnotify becomes unusable (errFallback).
func (w *Watcher) runNotify(ctx context.Context, c *coalescer) error {
	fw, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		w.log.Warn("file events unavailable; falling back to polling", slog.Any(logKeyError, err))
		return errFallback
	}
	n := &notifier{w: w, fw: fw, c: c}
	defer func() { _ = fw.Close() }()

	for _, r := range w.roots {
		if err := n.addRoot(r, false); err != nil {
			return n.fallback(err)
		}
	}
	w.markReady()
	w.log.Info("watching Claude data with file events", slog.String(logKeyMode, ModeFSNotify),
		slog.Int("watches", len(fw.WatchList())), slog.Int("missing_dirs", len(n.missing)))

	var tick <-chan time.Time
	if len(n.missing) > 0 {
		t := time.NewTicker(w.opts.PollInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-fw.Events:
			if !ok {
				return n.fallback(errors.New("fsnotify event channel closed"))
			}
			if err := n.handle(ev); err != nil {
				return n.fallback(err)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return n.fallback(errors.New("fsnotify error channel closed"))
			}
			n.handleError(ctx, err)
		case <-tick:
			if err := n.checkMissing(); err != nil {
				return n.fallback(err)
			}
		case <-c.timerC:
			c.fire(ctx)
		case <-c.done:
			c.finished(ctx)
		}
	}
}

// handleError reacts to an error reported by fsnotify.
func (n *notifier) handleError(ctx context.Context, err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		// Events were lost: report every file so that the consumer
		// re-checks them (it skips the unchanged ones cheaply).
		n.w.log.Warn("file event queue overflowed; rescanning", slog.Any(logKeyError, err))
		n.c.add(n.w.inventory(ctx)...)
		return
	}
	n.w.log.Warn("file watch error", slog.Any(logKeyError, err))
}

// fallback logs why file events are abandoned and reports every file once,
// since changes may have been missed while switching.
func (n *notifier) fallback(err error) error {
	if isLimit(err) {
		n.w.log.Warn("file watch limit reached (raise fs.inotify.max_user_watches); falling back to polling",
			slog.Any(logKeyError, err))
	} else {
		n.w.log.Warn("file events failed; falling back to polling", slog.Any(logKeyError, err))
	}
	return errFallback
}

// addRoot watches r and its projects tree. A root that does not exist yet
// is remembered and checked every PollInterval; appeared says it was
// missing before, in which case the files already in it are reported.
func (n *notifier) addRoot(r root, appeared bool) error {
	if fi, err := os.Stat(r.dir); err != nil || !fi.IsDir() {
		n.w.log.Info("Claude data directory does not exist yet", slog.String(logKeyDir, r.dir))
		n.missing = append(n.missing, r)
		return nil
	}
	if err := n.add(r.dir); err != nil {
		return err
	}
	if appeared {
		for _, p := range r.top {
			if fileExists(p) {
				n.c.add(p)
			}
		}
	}
	return n.addTree(r.projects, appeared)
}

// checkMissing adds the roots that have appeared since the last check.
func (n *notifier) checkMissing() error {
	missing := n.missing
	n.missing = nil
	for _, r := range missing {
		if err := n.addRoot(r, true); err != nil {
			return err
		}
	}
	return nil
}

// add watches one directory. Only the watch limit is fatal: a directory
// that vanished or cannot be read is logged and skipped.
func (n *notifier) add(dir string) error {
	err := n.w.addWatch(n.fw.Add, dir)
	switch {
	case err == nil:
		return nil
	case isLimit(err):
		return err
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	n.w.log.Warn("cannot watch directory", slog.String(logKeyDir, dir), slog.Any(logKeyError, err))
	return nil
}

// addTree watches dir and every directory below it. With report set, the
// transcripts already there are reported: they may have been written
// before the watch existed, which is the normal case for a new project
// folder whose first transcript is created right after it.
func (n *notifier) addTree(dir string, report bool) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil // the root watch reports projects/ when it appears
	}
	var limitErr error
	// os.DirFS follows dir itself when it is a symlink; links below it are
	// not followed, like the ingester's discovery.
	_ = fs.WalkDir(os.DirFS(dir), ".", func(rel string, d fs.DirEntry, err error) error {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err != nil {
			if d != nil && d.IsDir() && rel != "." {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if err := n.add(path); err != nil {
				limitErr = err
				return fs.SkipAll
			}
			return nil
		}
		if report && n.w.Kind(path) == Transcript {
			n.c.add(path)
		}
		return nil
	})
	return limitErr
}

// handle reacts to one event: new directories in a projects tree are
// watched, and writes to the files of interest are gathered.
func (n *notifier) handle(ev fsnotify.Event) error {
	path := filepath.Clean(ev.Name)
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			for _, r := range n.w.roots {
				if within(r.projects, path) {
					return n.addTree(path, true)
				}
			}
			return nil
		}
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) {
		if n.w.Kind(path) != Unknown {
			n.c.add(path)
		}
	}
	return nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
