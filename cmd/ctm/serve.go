package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/budget"
	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/live"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/source/claude"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
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
	a, code := env.openApp(ctx, fs, args, config.AllFlags, noCatchUp)
	if a == nil {
		return code
	}
	defer a.close()
	if err := a.cfg.CheckListen(); err != nil {
		fmt.Fprintf(env.stderr, "ctm: %v\n", err)
		return 2
	}

	limits, err := usage.NewLimits(a.cfg.Plan, a.cfg.TokenLimit, a.cfg.CostLimit)
	if err != nil {
		return a.fail(err)
	}
	// Budgets are checked off the ingest path: a change only asks for a
	// check, which the alerter runs on its own goroutine.
	var alerter *budget.Alerter
	checkBudgets := func() {
		if alerter != nil {
			alerter.Trigger()
		}
	}
	// The pipeline tells the server of new records; the server needs the
	// pipeline's watch mode and last ingest, so it is made second.
	var srv *server.Server
	pipe, err := live.New(live.Options{
		Ingester: ingest.New(a.store, a.cfg.ClaudeDirs, a.logger, a.ingestOptions()),
		Roots:    a.cfg.ClaudeDirs,
		Changed:  func(ctx context.Context, _ ingest.Result) { srv.Ingested(ctx) },
		Watch:    watch.Options{PollInterval: a.cfg.PollInterval},
		Logger:   a.logger,
	})
	if err != nil {
		return a.fail(err)
	}
	_, isTeam := a.store.(usage.TeamStore)
	srv, err = server.New(server.Options{
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
		Limits:           limits,
		WebSocket:        &server.HubOptions{MaxClients: a.cfg.MaxWSClients},
		// A team server takes records pushed by machines and Claude Code's
		// telemetry.
		Team:       isTeam,
		WatchMode:  pipe.Mode,
		LastIngest: pipe.LastIngest,
		Budgets:    a.budgets.Budgets,
		OnChange:   checkBudgets,
	})
	if err != nil {
		return a.fail(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if as, ok := a.store.(usage.BudgetAlertStore); ok && len(a.budgets.Budgets) > 0 {
		hub := srv.Hub()
		alerter, err = budget.New(budget.Options{
			Config: a.budgets,
			Views:  func() *views.Views { return a.views(nil) },
			Store:  as,
			Broadcast: func(al budget.Alert) {
				if err := hub.BroadcastBudgetAlert(al); err != nil {
					a.logger.Warn("budget alert broadcast", "error", err)
				}
			},
			Logger: a.logger,
		})
		if err != nil {
			return a.fail(err)
		}
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := pipe.Run(ctx); err != nil {
			a.logger.Error("watch", "error", err)
		}
	})
	wg.Go(func() { srv.Run(ctx) })
	if alerter != nil {
		wg.Go(func() { alerter.Run(ctx) })
	}
	if err := srv.Open(); err != nil {
		cancel()
		wg.Wait()
		_ = srv.Close(context.Background())
		return a.fail(err)
	}
	a.logger.Info("serving", "url", srv.URL(), "api", srv.URL()+a.cfg.APIPrefix,
		"database", databaseKind(&a.cfg), "database_path", sqlitePath(&a.cfg), "watch", pipe.Mode())

	<-ctx.Done()
	a.logger.Info("shutting down")
	shutdownCtx, stop := context.WithTimeout(context.Background(), shutdownTimeout)
	defer stop()
	err = srv.Close(shutdownCtx)
	wg.Wait()
	if errors.Is(err, context.DeadlineExceeded) {
		// The stop was asked for and happened: requests still running
		// after the grace period were cut, which a busy client may see
		// but which is no failure of the server.
		a.logger.Warn("shutdown cut requests still running", "after", shutdownTimeout)
		return 0
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return a.fail(err)
	}
	return 0
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
