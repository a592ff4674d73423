package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/config"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/live"
	"github.com/claude-token-monitor/ctm/internal/team"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// runToken implements "ctm token create --user NAME": a new push token for a
// team member, printed alone on the last line of stdout. Only its hash is
// stored, so it cannot be shown again.
func runToken(ctx context.Context, args []string, env *environ) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(env.stderr, "usage: ctm token create --user NAME   (needs DATABASE_URL)")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	fs := newFlagSet("token create", env.stderr, "ctm token create --user NAME",
		"Creates a push token for a team member on the PostgreSQL server (DATABASE_URL) and prints it once.")
	user := fs.String("user", "", "the team member the token belongs to (required)")
	a, code := env.openApp(ctx, fs, args[1:], config.DataFlags, noCatchUp)
	if a == nil {
		return code
	}
	defer a.close()
	if *user == "" {
		return a.fail(usage.Errorf(usage.EINVALID, "--user is required"))
	}
	ts, ok := a.store.(usage.TeamStore)
	if !ok || a.cfg.DatabaseURL == "" {
		return a.fail(usage.Errorf(usage.EINVALID, "token create needs the team server's database: set DATABASE_URL=postgres://…"))
	}
	token, err := ts.CreateToken(ctx, *user)
	if err != nil {
		return a.fail(err)
	}
	fmt.Fprintf(env.stdout, "Push token for %s (shown once; only its hash is stored):\n%s\n", *user, token)
	return 0
}

// pushFlags are the flags of "ctm push".
type pushFlags struct {
	server, token, tokenFile, machine string
	watch                             bool
	batch                             int
	interval                          time.Duration
}

func (f *pushFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "team server `URL`, e.g. https://ctm.example.com (required)")
	fs.StringVar(&f.token, "token", "", "push `token` from 'ctm token create' (or CTM_PUSH_TOKEN)")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the push token from this `file`")
	fs.StringVar(&f.machine, "machine", "", "name of this machine on the server (default: host name)")
	fs.BoolVar(&f.watch, "watch", false, "keep indexing and pushing until interrupted")
	fs.IntVar(&f.batch, "batch", team.DefaultBatchSize, "records per request")
	fs.DurationVar(&f.interval, "interval", team.DefaultInterval, "time between pushes with --watch")
}

// pushToken returns the token from the flag, the file or the environment,
// in that order.
func (f *pushFlags) pushToken(env *environ) (string, error) {
	switch {
	case f.token != "":
		return f.token, nil
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", usage.Errorf(usage.EINVALID, "--token-file: %v", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	for _, kv := range env.vars {
		if v, ok := strings.CutPrefix(kv, "CTM_PUSH_TOKEN="); ok && v != "" {
			return v, nil
		}
	}
	return "", usage.Errorf(usage.EINVALID, "a push token is required: --token, --token-file or CTM_PUSH_TOKEN")
}

// runPush implements "ctm push": the local records are sent to a team
// server in batches. Pushing is idempotent (the server keeps one copy per
// response), so an interrupted push is simply run again.
func runPush(ctx context.Context, args []string, env *environ) int {
	fs := newFlagSet("push", env.stderr, "ctm push --server URL --token T [--watch]",
		"Indexes the local Claude data, then sends the records to a team server.")
	var pf pushFlags
	pf.bind(fs)
	a, code := env.openApp(ctx, fs, args, config.DataFlags, catchUpLater)
	if a == nil {
		return code
	}
	defer a.close()
	if pf.server == "" {
		return a.fail(usage.Errorf(usage.EINVALID, "--server is required"))
	}
	token, err := pf.pushToken(env)
	if err != nil {
		return a.fail(err)
	}
	if err := a.catchUp(ctx, env.isatty(env.stderr)); err != nil {
		return a.fail(err)
	}
	opts := team.PushOptions{Machine: pf.machine, BatchSize: pf.batch, Logger: a.logger}
	if !pf.watch {
		res, err := team.Push(ctx, a.store, pf.server, token, opts)
		if err != nil {
			return a.fail(err)
		}
		fmt.Fprintf(env.stdout, "pushed %d records in %d batches and %d prompts to %s (%d skipped)\n", res.Sent, res.Batches, res.Prompts, pf.server, res.Skipped)
		return 0
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := ingest.New(a.store, a.cfg.ClaudeDirs, a.logger, ingest.Options{})
	go live.KeepIndexed(ctx, in, a.cfg.PollInterval, a.logger, nil)
	err = team.Watch(ctx, a.store, pf.server, token, team.WatchOptions{
		PushOptions: opts,
		Interval:    pf.interval,
		CursorFile:  filepath.Join(filepath.Dir(a.cfg.DatabasePath), "push-cursor.json"),
		OnPush: func(res team.PushResult) {
			if res.Sent > 0 {
				a.logger.Info("pushed", "records", res.Sent, "batches", res.Batches, "prompts", res.Prompts, "skipped", res.Skipped)
			}
		},
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return a.fail(err)
	}
	return 0
}
