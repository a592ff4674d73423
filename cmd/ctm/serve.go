package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/web"
)

// shutdownTimeout bounds a graceful shutdown: long enough for in-flight
// requests to finish, short enough that Ctrl-C feels immediate.
const shutdownTimeout = 5 * time.Second

func runServe(ctx context.Context, args []string, env *environ) int {
	fs := newFlagSet("serve", env.stderr, "ctm serve [flags]",
		"Serves the dashboard, the JSON API and the WebSocket feed, keeping the index current.")
	a, code := env.openApp(ctx, fs, args, false)
	if a == nil {
		return code
	}
	defer a.close()

	var lastIngest atomic.Int64 // unix nanoseconds of the last catch-up that stored records
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
		DatabasePath:     a.cfg.DatabasePath,
		DataSources:      a.cfg.ClaudeDirs,
		StatsCache:       statsCacheReader(a.cfg.ClaudeDirs),
		SnapshotInterval: a.cfg.SnapshotInterval,
		RetentionDays:    a.cfg.RetentionDays,
		Static:           web.FS,
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
	if err := srv.Open(); err != nil {
		return a.fail(err)
	}
	a.logger.Info("serving", "url", srv.URL(), "api", srv.URL()+a.cfg.APIPrefix, "database", a.cfg.DatabasePath)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := ingest.New(a.store, a.cfg.ClaudeDirs, a.logger, ingest.Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.keepIndexed(ctx, in, func(res ingest.Result) {
			if res.Written > 0 {
				lastIngest.Store(time.Now().UnixNano())
				srv.Invalidate()
			}
		})
	}()
	go srv.RunSnapshots(ctx)

	<-ctx.Done()
	a.logger.Info("shutting down")
	shutdownCtx, stop := context.WithTimeout(context.Background(), shutdownTimeout)
	defer stop()
	err = srv.Close(shutdownCtx)
	cancel()
	<-done
	if err != nil && !errors.Is(err, context.Canceled) {
		return a.fail(err)
	}
	return 0
}

// keepIndexed catches up now and then every PollInterval until ctx ends,
// calling changed after each catch-up.
func (a *app) keepIndexed(ctx context.Context, in *ingest.Ingester, changed func(ingest.Result)) {
	t := time.NewTicker(a.cfg.PollInterval)
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
	if len(dirs) == 0 {
		return nil
	}
	path := filepath.Join(dirs[0], "stats-cache.json")
	for _, d := range dirs {
		p := filepath.Join(d, "stats-cache.json")
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	return ingest.NewStatsCacheReader(path)
}
