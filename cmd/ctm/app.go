package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/budget"
	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/logging"
	"github.com/claude-token-monitor/ctm/internal/postgres"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/source/claude"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
	"golang.org/x/term"
)

// environ is what the process gives a command: streams, environment
// variables and the terminal check. Tests build their own.
type environ struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	vars           []string
	dotenv         string // path of the .env file
	isatty         func(w io.Writer) bool
}

// app is an opened command context: configuration, logger, store and prices.
type app struct {
	cfg    config.Config
	logger *slog.Logger
	store  usage.Store
	prices *pricing.Table
	// budgets is the content of BUDGETS_FILE; empty when it is unset.
	budgets *budget.Config
	loc     *time.Location
	stdout  io.Writer
	stderr  io.Writer
	closers []io.Closer
	// checkpointed is closed when the checkpoint started after the last
	// catch-up that wrote is done; nil when none was started.
	checkpointed chan struct{}
	// readsWhileCatchingUp is whether the command may read the store while
	// a catch-up runs (ctm mcp, whose calls overlap); otherwise a first
	// index may write the SQLite file in place (InPlaceFirstIndex).
	readsWhileCatchingUp bool
	// survey is the listing and stat of the Claude directories that
	// openApp began for the first catch-up, of layout; nil once taken.
	survey *ingest.Survey
	layout *claude.Layout
}

// inPlaceIndexer is a store whose first index can write its file in place
// (sqlite.Store).
type inPlaceIndexer interface {
	InPlaceFirstIndex()
}

// views returns the views of a's store at the time clock tells; nil
// means time.Now.
func (a *app) views(clock func() time.Time) *views.Views {
	v := &views.Views{Store: a.store, Prices: a.prices, Location: a.loc, Now: clock, DisplayName: a.prices.DisplayName}
	if rs, ok := a.store.(usage.RateLimitStore); ok {
		v.RateLimits = rs
	}
	if h, ok := a.store.(usage.RateLimitHistory); ok {
		v.RateLimitHistory = h
	}
	return v
}

// loadConfig loads the configuration and binds the flags of groups on fs,
// then parses
// args. The returned code is non-zero when the command must stop.
func (env *environ) loadConfig(fs *flag.FlagSet, args []string, groups config.FlagGroup) (config.Config, int) {
	cfg, err := config.Load(env.dotenv, env.vars)
	if err != nil {
		fmt.Fprintf(env.stderr, "ctm: %v\n", err)
		return cfg, 2
	}
	cfg.BindFlagGroups(fs, groups)
	addShortFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, -1
		}
		return cfg, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "ctm %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return cfg, 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(env.stderr, "ctm: %v\n", err)
		return cfg, 2
	}
	return cfg, 0
}

// catchUpWhen is when a command brings the index up to date.
type catchUpWhen int

const (
	// noCatchUp: the command does not, or does its own (ctm serve).
	noCatchUp catchUpWhen = iota
	// catchUpNow: openApp does, before it returns.
	catchUpNow
	// catchUpLater: the command calls app.catchUp once it has checked its
	// flags; the survey of the Claude directories starts in openApp all
	// the same, while the prices load and the store opens.
	catchUpLater
)

// openApp loads the configuration, parses the flags (those of groups and
// the command's own), builds the logger,
// loads prices and opens the store; with catchUpNow it brings the index up
// to date with the Claude directories first. On failure it returns nil and
// the exit code.
func (env *environ) openApp(ctx context.Context, fs *flag.FlagSet, args []string, groups config.FlagGroup, when catchUpWhen) (*app, int) {
	cfg, code := env.loadConfig(fs, args, groups)
	if code != 0 {
		if code < 0 {
			code = 0
		}
		return nil, code
	}
	a := &app{cfg: cfg, loc: cfg.Location, stdout: env.stdout, stderr: env.stderr}
	logger, closer, err := logging.New(logging.Options{
		Level:  cfg.SlogLevel(),
		Format: cfg.LogFormatFor(env.isatty(env.stderr)),
		File:   cfg.LogFile,
		Stderr: env.stderr,
		Color:  env.isatty(env.stderr),
	})
	if err != nil {
		fmt.Fprintf(env.stderr, "ctm: %v\n", err)
		return nil, 1
	}
	a.logger = logger
	a.closers = append(a.closers, closer)
	if when != noCatchUp {
		a.startSurvey(ctx)
	}
	if a.prices, err = pricing.Load(pricing.Options{UserFile: cfg.PricingFile, Refreshed: cfg.RefreshedPrices()}); err != nil {
		a.close()
		return nil, a.fail(err)
	}
	a.budgets = &budget.Config{}
	if cfg.BudgetsFile != "" {
		if a.budgets, err = budget.Load(cfg.BudgetsFile); err != nil {
			a.close()
			return nil, a.fail(err)
		}
	}
	store, err := openStore(ctx, cfg, a.prices)
	if err != nil {
		a.close()
		return nil, a.fail(err)
	}
	a.store = store
	a.closers = append(a.closers, store)
	if when == catchUpNow {
		if err := a.catchUp(ctx, env.isatty(env.stderr)); err != nil {
			a.close()
			return nil, a.fail(err)
		}
	}
	return a, 0
}

// openStore opens PostgreSQL when DATABASE_URL is set (team mode), else the
// embedded SQLite database.
func openStore(ctx context.Context, cfg config.Config, prices usage.Pricer) (usage.Store, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL, prices)
	}
	s, err := sqlite.Open(ctx, cfg.DatabasePath, prices)
	if err != nil {
		return nil, explainDBError(cfg.DatabasePath, err, dirWritable)
	}
	return s, nil
}

// explainDBError names the database file in a SQLite error, whose own text
// ("file is not a SQLite database", "attempt to write a readonly database
// (1544)") does not say which file or what to do. For a read-only database
// it says whether the directory or the file cannot be written, using
// canWrite to probe the directory; nil errors stay nil.
func explainDBError(path string, err error, canWrite func(dir string) error) error {
	if err == nil || path == "" {
		return err
	}
	msg := err.Error()
	var ue *usage.Error
	if errors.As(err, &ue) {
		msg = ue.Message
	}
	switch {
	case strings.Contains(msg, "readonly database") || strings.Contains(msg, "read-only"):
		dir := filepath.Dir(path)
		if werr := canWrite(dir); werr != nil {
			return usage.Errorf(usage.EINVALID, "DATABASE_PATH %q: the directory %s cannot be written (SQLite creates its -wal and -shm files there): %v", path, dir, werr)
		}
		return usage.Errorf(usage.EINVALID, "DATABASE_PATH %q: the database file cannot be written: %s", path, msg)
	case strings.Contains(msg, "not a SQLite database") || strings.Contains(msg, "not a database"):
		return usage.Errorf(usage.EINVALID, "DATABASE_PATH %q is not a SQLite database; point DATABASE_PATH (or --db) at a ctm database or at a new file", path)
	case !strings.Contains(msg, path):
		return fmt.Errorf("database %q: %w", path, err)
	}
	return err
}

// dirWritable reports whether a file can be created in dir, by creating
// one: permission bits alone do not tell (root, ACLs, read-only mounts).
func dirWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".ctm-write-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// checkClaudeDirs returns an error naming each Claude directory that does
// not exist or holds no projects/ folder, where a typo in CLAUDE_DIR would
// otherwise look like "no usage". A directory that exists and is empty is
// accepted: the user chose it, and it simply holds nothing yet.
func checkClaudeDirs(dirs []string) error {
	var errs []string
	for _, d := range dirs {
		fi, err := os.Stat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, fmt.Sprintf("Claude data directory %s does not exist (check CLAUDE_DIR or --claude-dir)", d))
			continue
		case err != nil:
			errs = append(errs, fmt.Sprintf("Claude data directory %s: %v", d, err))
			continue
		case !fi.IsDir():
			errs = append(errs, fmt.Sprintf("Claude data directory %s is not a directory", d))
			continue
		}
		if _, err := os.Stat(claude.ProjectsDir(d)); err == nil {
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			errs = append(errs, fmt.Sprintf("Claude data directory %s: %v", d, err))
		} else if len(entries) > 0 {
			errs = append(errs, fmt.Sprintf("Claude data directory %s holds no projects/ folder: is it Claude Code's data directory (usually ~/.claude)?", d))
		}
	}
	if len(errs) > 0 {
		return usage.Errorf(usage.EINVALID, "%s", strings.Join(errs, "; "))
	}
	return nil
}

// catchUp reads what the Claude directories gained since the last run. A
// progress bar is drawn on a terminal while a large first index runs.
func (a *app) catchUp(ctx context.Context, tty bool) error {
	if err := checkClaudeDirs(a.cfg.ClaudeDirs); err != nil {
		return err
	}
	if s, ok := a.store.(inPlaceIndexer); ok && !a.readsWhileCatchingUp {
		s.InPlaceFirstIndex()
	}
	opts := a.ingestOptions()
	var bar *progressBar
	if tty {
		bar = newProgressBar(a.stderr, 32<<20)
	}
	var (
		large   sync.Once
		restore func()
		mem     *memoryCap
	)
	opts.Progress = func(done, total int64) {
		if total > largeCatchUp {
			// A first index collects at Go's usual pace, which holds
			// its peak memory to the usual bound (on 512 MB of long
			// sessions, 50 cut peak RSS from about 120 to 95 MB but
			// cost 5-10 % of the time), and under a soft memory limit
			// (see memoryCap). The pace and limit it found come back
			// afterwards, for the report or long-running command that
			// follows.
			large.Do(func() {
				gc, limit := 0, int64(-1)
				if os.Getenv("GOGC") == "" {
					gc = debug.SetGCPercent(largeCatchUpGCPercent)
				}
				if os.Getenv("GOMEMLIMIT") == "" {
					// A report's lazy limit is not the user's: the cap
					// sets its own.
					limit = debug.SetMemoryLimit(math.MaxInt64)
					mem = capMemory()
				}
				restore = func() {
					if mem != nil {
						mem.release()
					}
					if limit >= 0 {
						debug.SetMemoryLimit(limit)
					}
					if os.Getenv("GOGC") == "" {
						debug.SetGCPercent(gc)
					}
				}
			})
			if mem != nil {
				mem.adjust()
			}
		}
		bar.update(done, total)
	}
	layout, sv := a.takeSurvey(ctx)
	in := ingest.NewFromSource(a.store, layout, a.logger, opts)
	res, err := in.RunSurvey(ctx, sv) // Progress runs on this goroutine
	if restore != nil {
		restore()
	}
	bar.finish()
	if err != nil {
		if a.cfg.DatabaseURL == "" {
			err = explainDBError(a.cfg.DatabasePath, err, dirWritable)
		}
		return fmt.Errorf("index Claude data: %w", err)
	}
	a.logger.Debug("caught up", "files", res.FilesChanged, "records", res.Records,
		"bad_lines", res.BadLines, "bytes", res.BytesRead, "duration", res.Duration)
	a.checkpointSoon(ctx, res)
	return nil
}

// startSurvey begins the survey of the Claude directories (see
// ingest.Survey) that the first catch-up takes up.
func (a *app) startSurvey(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	if cache := a.ingestOptions().ListingCache; cache != "" {
		// The store, which creates its folder, opens only now; the
		// survey's listing cache beside it must not fail for want of
		// the folder on a first run. A failure is the store's to report.
		_ = os.MkdirAll(filepath.Dir(cache), 0o700)
	}
	a.layout = a.newLayout()
	a.survey = ingest.StartSurvey(ctx, a.layout, a.logger)
	sv := a.survey
	a.closers = append(a.closers, closerFunc(func() error {
		// A command that fails before its catch-up leaves a survey
		// that no one waits for.
		cancel()
		sv.Wait()
		return nil
	}))
}

// takeSurvey returns the survey that startSurvey began, and its layout,
// the first time; later catch-ups (ctm blocks --live, every ctm mcp call)
// start their own.
func (a *app) takeSurvey(ctx context.Context) (*claude.Layout, *ingest.Survey) {
	if sv := a.survey; sv != nil {
		a.survey = nil
		return a.layout, sv
	}
	l := a.newLayout()
	return l, ingest.StartSurvey(ctx, l, a.logger)
}

// newLayout is the layout of the configured Claude directories, with the
// listing cache that ingest.New would give it (see ingestOptions).
func (a *app) newLayout() *claude.Layout {
	l := claude.New(a.cfg.ClaudeDirs)
	l.SetListingCache(a.ingestOptions().ListingCache)
	return l
}

// closerFunc is a func as an io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// checkpointer is a store whose log can be copied into its file while
// it is read (sqlite.Store).
type checkpointer interface {
	Checkpoint(ctx context.Context) error
}

// checkpointSoon starts a checkpoint of what the catch-up wrote, to run
// while the command reads; close waits for it. One runs at a time.
func (a *app) checkpointSoon(ctx context.Context, res ingest.Result) {
	cp, ok := a.store.(checkpointer)
	if !ok || res.FilesChanged == 0 {
		return
	}
	if a.checkpointed != nil {
		select {
		case <-a.checkpointed:
		default:
			return // the last one is still running
		}
	}
	done := make(chan struct{})
	a.checkpointed = done
	go func() {
		defer close(done)
		if err := cp.Checkpoint(context.WithoutCancel(ctx)); err != nil {
			// Close checkpoints anyway; this only saved time.
			a.logger.Debug("checkpoint", "error", err)
		}
	}()
}

// largeCatchUp is the size of a catch-up (in bytes to read) above which
// the collector runs at Go's usual pace again (see lazyGC).
var largeCatchUp int64 = 32 << 20

// largeCatchUpGCPercent is the collector's pace in a large catch-up.
const largeCatchUpGCPercent = 100

// lazyHeap is the soft memory limit of a report (see lazyGC).
const lazyHeap = 64 << 20

// lazyGC turns the collector off for a command that allocates some
// megabytes and exits, below a soft memory limit of lazyHeap: should the
// heap near it, the collector runs as the limit needs. At Go's usual pace,
// collecting was a quarter of the CPU time of a daily report on an
// unchanged 512 MB tree; at a fifth of it, the one collection left still
// cost a report after a 1 MB append to 2 GB a tenth of its time (41.4 ms
// against 37.5 ms off, peak RSS 36.7 against 39.5 MB). A catch-up that
// turns out large (a first index) collects at the usual pace while it
// runs (see catchUp). GOGC and GOMEMLIMIT, when set, are left alone; with
// only GOMEMLIMIT set the collector runs at a fifth of its usual pace.
func lazyGC() {
	switch {
	case os.Getenv("GOGC") != "":
	case os.Getenv("GOMEMLIMIT") != "":
		debug.SetGCPercent(400)
	default:
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(lazyHeap)
	}
}

// ingestOptions returns the ingest options of a's store: with SQLite, the
// folder listings of the Claude directories are kept beside the database
// (DATABASE_PATH plus "-dirs"), so that a catch-up lists again only the
// folders that changed.
func (a *app) ingestOptions() ingest.Options {
	if a.cfg.DatabaseURL != "" || a.cfg.DatabasePath == "" {
		return ingest.Options{}
	}
	return ingest.Options{ListingCache: a.cfg.DatabasePath + "-dirs"}
}

// fail prints err for the user and returns the exit code: 2 for bad input,
// 1 otherwise.
func (a *app) fail(err error) int {
	msg := err.Error()
	var e *usage.Error
	if errors.As(err, &e) {
		msg = e.Message
	}
	fmt.Fprintf(a.stderr, "ctm: %s\n", msg)
	if usage.ErrorCode(err) == usage.EINVALID {
		return 2
	}
	return 1
}

func (a *app) close() {
	if a.checkpointed != nil {
		<-a.checkpointed
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i].Close(); err != nil && a.logger != nil {
			a.logger.Warn("close", "error", err)
		}
	}
	a.closers = nil
}

// isTerminal reports whether w is a terminal, for colour and progress.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
