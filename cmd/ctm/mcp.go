package main

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/mcpserver"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// runMCP implements ctm mcp: a Model Context Protocol server on stdin and
// stdout, for Claude Code ("claude mcp add ctm -- ctm mcp").
func runMCP(ctx context.Context, args []string, env *environ) int {
	return runMCPAt(ctx, args, env, nil)
}

// runMCPAt is runMCP with a clock, for tests; nil means time.Now.
func runMCPAt(ctx context.Context, args []string, env *environ, clock func() time.Time) int {
	fs := newFlagSet("mcp", env.stderr, "ctm mcp [flags]",
		"Serves the reports (daily, weekly, monthly, sessions, projects), one session and\n"+
			"the current 5-hour block as Model Context Protocol tools on stdin and stdout, catching up\n"+
			"the index before every call. Add it to Claude Code with: claude mcp add ctm -- ctm mcp")
	a, code := env.openApp(ctx, fs, args, config.DataFlags|config.LimitFlags, noCatchUp)
	if a == nil {
		return code
	}
	defer a.close()
	limits, err := usage.NewLimits(a.cfg.Plan, a.cfg.TokenLimit, a.cfg.CostLimit)
	if err != nil {
		return a.fail(err)
	}
	if err := checkClaudeDirs(a.cfg.ClaudeDirs); err != nil {
		return a.fail(err)
	}
	// Calls may overlap; one catch-up at a time keeps a single writer,
	// and the others read while it runs.
	var mu sync.Mutex
	a.readsWhileCatchingUp = true
	srv := mcpserver.New(mcpserver.Options{
		Views: func(loc *time.Location) *views.Views {
			v := a.views(clock)
			v.Location = loc
			return v
		},
		Location: a.loc,
		Limits:   limits,
		Budgets:  a.budgets.Budgets,
		CatchUp: func(ctx context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return a.catchUp(ctx, false)
		},
		Version: resolveVersion(),
	})
	t := &mcp.IOTransport{Reader: io.NopCloser(env.stdin), Writer: nopWriteCloser{env.stdout}}
	if err := srv.Run(ctx, t); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
		return a.fail(err)
	}
	return 0
}

// nopWriteCloser leaves stdout open when the transport closes.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
