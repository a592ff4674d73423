package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/config"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/source/claude"
	"github.com/claude-token-monitor/ctm/internal/team"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/watch"
	"github.com/claude-token-monitor/ctm/internal/web"
)

// shutdownTimeout bounds a graceful shutdown: long enough for in-flight
// requests to finish (API reads take milliseconds), and shorter than
// main's exitGrace, so that a signalled serve stops within a second and
// still cleanly.
const shutdownTimeout = 750 * time.Millisecond

func runServe(ctx context.Context, args []string, env *environ) int {
	fs := newFlagSet("serve", env.stderr, "ctm serve [flags]",
		"Serves the dashboard, the JSON API and the WebSocket feed, keeping the index current.")
	a, code := env.openApp(ctx, fs, args, config.AllFlags, false)
	if a == nil {
		return code
	}
	defer a.close()
	if err := a.cfg.CheckListen(); err != nil {
		fmt.Fprintf(env.stderr, "ctm: %v\n", err)
		return 2
	}

	var lastIngest atomic.Int64 // unix nanoseconds of the last catch-up that stored records
	var watchMode atomic.Value  // func() string, set once the watcher exists
	srv, err := server.New(server.Options{
		Store:            a.store,
		Pricer:           a.prices,
		DisplayName:      a.prices.DisplayName,
		Logger:           a.logger,
		Location:         a.loc,
		Host:             a.cfg.Host,
		Port:             a.cfg.Port,
		APIPrefix:        a.cfg.APIPrefix,
		CORSOrigins:      a.cfg.CORSOrigins,
		AuthToken:        a.cfg.AuthToken,
		AllowRemote:      a.cfg.AllowRemote,
		Version:          resolveVersion(),
		DatabasePath:     sqlitePath(&a.cfg),
		Database:         databaseKind(&a.cfg),
		DataSources:      a.cfg.ClaudeDirs,
		StatsCache:       statsCacheReader(a.cfg.ClaudeDirs),
		SnapshotInterval: a.cfg.SnapshotInterval,
		RetentionDays:    a.cfg.RetentionDays,
		Static:           web.FS,
		Plan:             a.cfg.Plan,
		TokenLimit:       a.cfg.TokenLimit,
		CostLimit:        a.cfg.CostLimit,
		WatchMode: func() string {
			if f, ok := watchMode.Load().(func() string); ok {
				return f()
			}
			return ""
		},
		LastIngest: func() time.Time {
			if n := lastIngest.Load(); n != 0 {
				return time.Unix(0, n)
			}
			return time.Time{}
		},
	})
	if err != nil {
		return a.fail(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hub := server.NewHub(server.HubOptions{
		Stats:      srv.StatsSummary,
		MaxClients: a.cfg.MaxWSClients,
		Logger:     a.logger,
	})
	srv.MountWebSocket(hub)

	notifyBlocks := func() {
		if err := srv.NotifyBlocks(ctx, hub); err != nil && ctx.Err() == nil {
			a.logger.Error("notify blocks", "error", err)
		}
	}
	if ts, ok := a.store.(usage.TeamStore); ok {
		// Team server: machines push records and Claude Code sends its
		// telemetry, each with a per-user token the handlers check.
		auth := team.TokenAuth(ts, a.cfg.AuthToken)
		pushed := func() {
			srv.Invalidate()
			hub.NotifyIngest()
		}
		srv.MountSelfAuthenticated("POST "+srv.APIPrefix()+"/ingest", onSuccess(team.NewIngestHandler(a.store, a.logger, auth), pushed))
		srv.MountSelfAuthenticated("POST /v1/logs", onSuccess(team.NewOTLPHandler(a.store, a.logger, auth), pushed))
	}

	in := ingest.New(a.store, a.cfg.ClaudeDirs, a.logger, ingest.Options{})
	ingested := func(res ingest.Result) {
		if res.Written == 0 {
			return
		}
		lastIngest.Store(time.Now().UnixNano())
		srv.Invalidate()
		hub.NotifyIngest()
		notifyBlocks()
	}
	// The callback runs only once Run has started, after w is assigned.
	var w *watch.Watcher
	w, err = watch.New(a.cfg.ClaudeDirs, func(ctx context.Context, paths []string) {
		var transcripts []string
		for _, p := range paths {
			if w.Kind(p) == watch.Transcript {
				transcripts = append(transcripts, p)
			}
		}
		if len(transcripts) == 0 {
			return
		}
		res, err := in.IngestFiles(ctx, transcripts)
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Error("live ingest", "error", err)
			}
			return
		}
		ingested(res)
	}, watch.Options{PollInterval: a.cfg.PollInterval, Logger: a.logger})
	if err != nil {
		return a.fail(err)
	}
	watchMode.Store(w.Mode)

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("watch", "error", err)
		}
	})
	wg.Go(func() {
		// Catch up once the watches are in place, so that nothing written
		// in between is missed, then now and then in case an event was.
		select {
		case <-w.Ready():
		case <-ctx.Done():
			return
		}
		a.keepIndexed(ctx, in, fullRescanInterval, ingested)
	})
	wg.Go(func() { srv.RunSnapshots(ctx) })
	wg.Go(func() {
		// A block also ends because time passes, with no new record.
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				notifyBlocks()
			}
		}
	})
	if err := srv.Open(); err != nil {
		cancel()
		wg.Wait()
		hub.Close()
		return a.fail(err)
	}
	a.logger.Info("serving", "url", srv.URL(), "api", srv.URL()+a.cfg.APIPrefix,
		"database", databaseKind(&a.cfg), "database_path", sqlitePath(&a.cfg), "watch", w.Mode())

	<-ctx.Done()
	a.logger.Info("shutting down")
	// The hub first: Shutdown does not wait for upgraded connections.
	hub.Close()
	shutdownCtx, stop := context.WithTimeout(context.Background(), shutdownTimeout)
	defer stop()
	err = srv.Close(shutdownCtx)
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return a.fail(err)
	}
	return 0
}

// onSuccess calls done after h answers a request with a 2xx status: the
// team routes write to the store behind the ingester's back, so the server's
// cache and the live feed must hear of it.
func onSuccess(h http.Handler, done func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if sw.status >= 200 && sw.status < 300 {
			done()
		}
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// fullRescanInterval is how often serve walks every Claude dir even though
// the watcher reports changes: a cheap safety net for a missed event.
const fullRescanInterval = 5 * time.Minute

// keepIndexed catches up now and then every interval until ctx ends,
// calling changed after each successful catch-up.
func (a *app) keepIndexed(ctx context.Context, in *ingest.Ingester, interval time.Duration, changed func(ingest.Result)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := in.Run(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			a.logger.Error("catch up", "error", err)
		default:
			if res.Written > 0 {
				a.logger.Info("indexed", "files", res.FilesChanged, "records", res.Written,
					"bad_lines", res.BadLines, "duration", res.Duration.Round(time.Millisecond))
			}
			changed(res)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// statsCacheReader reads the stats-cache.json of the first Claude dir that
// has one; the first dir's path is used when none has one yet, so that the
// file is picked up once Claude Code writes it.
func statsCacheReader(dirs []string) server.StatsCacheReader {
	path := claude.New(dirs).StatsCachePath()
	if path == "" {
		return nil
	}
	return ingest.NewStatsCacheReader(path)
}

// databaseKind names the store cfg selects.
func databaseKind(cfg *config.Config) string {
	if cfg.DatabaseURL != "" {
		return "postgresql"
	}
	return "sqlite"
}

// sqlitePath is the SQLite database in use, or "" in PostgreSQL mode,
// where DatabasePath is not used and reporting it would mislead.
func sqlitePath(cfg *config.Config) string {
	if cfg.DatabaseURL != "" {
		return ""
	}
	return cfg.DatabasePath
}
