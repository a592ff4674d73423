// Package logging builds the program's *slog.Logger from configuration:
// text or JSON, coloured by level on a terminal, optionally copied to a
// file. It sets no global state; main passes the logger down.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Options configure New.
type Options struct {
	// Level is the minimum level logged; nil means slog.LevelInfo. Pass a
	// *slog.LevelVar to change it at run time.
	Level slog.Leveler
	// Format is "text" (the default when empty) or "json".
	Format string
	// File, when set, receives a copy of every record, never coloured. Its
	// directory is created if needed.
	File string
	// Stderr is the main destination; nil means os.Stderr.
	Stderr io.Writer
	// Color colours text output on Stderr by level. The caller decides,
	// typically from whether Stderr is a terminal and NO_COLOR.
	Color bool
}

// New returns a logger writing to opts.Stderr and, when opts.File is set,
// to that file too. The closer closes the file (it is a no-op without one)
// and must be called on exit. An unknown format or a file that cannot be
// opened is an error.
func New(opts Options) (*slog.Logger, io.Closer, error) {
	format := strings.ToLower(opts.Format)
	if format != "" && format != "text" && format != "json" {
		return nil, nil, fmt.Errorf("log format %q is not text or json", opts.Format)
	}
	if opts.Level == nil {
		opts.Level = slog.LevelInfo
	}
	stderr := opts.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	var handler slog.Handler
	if opts.Color && format != "json" {
		handler = newColorHandler(stderr, opts.Level)
	} else {
		handler = plainHandler(stderr, format, opts.Level)
	}
	closer := io.Closer(nopCloser{})
	if opts.File != "" {
		// 0o755 so the user can browse the directory; the file itself is
		// private because logs name projects and paths.
		if err := os.MkdirAll(filepath.Dir(opts.File), 0o755); err != nil {
			return nil, nil, fmt.Errorf("create log directory: %w", err)
		}
		f, err := os.OpenFile(opts.File, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("open log file: %w", err)
		}
		handler = slog.NewMultiHandler(handler, plainHandler(f, format, opts.Level))
		closer = &onceCloser{c: f}
	}
	return slog.New(handler), closer, nil
}

func plainHandler(w io.Writer, format string, level slog.Leveler) slog.Handler {
	o := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.NewJSONHandler(w, o)
	}
	return slog.NewTextHandler(w, o)
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// onceCloser closes the log file once, so a deferred Close after an
// explicit one is harmless.
type onceCloser struct {
	once sync.Once
	c    io.Closer
	err  error
}

func (o *onceCloser) Close() error {
	o.once.Do(func() { o.err = o.c.Close() })
	return o.err
}
