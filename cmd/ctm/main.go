// Command ctm is Claude Token Monitor: exact token and cost accounting of
// Claude Code usage, kept in its own database, reported by a CLI and served
// over HTTP and WebSocket with a web dashboard.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/claude-token-monitor/ctm/internal/views"
)

// exitGrace is how long a command may take to wind down after SIGINT or
// SIGTERM before the process exits anyway: whatever it is doing (a
// blocked system call, a slow store), a signal stops ctm within a second.
// Stopping short is safe: every write is a transaction, and an ingest
// killed at any point gives the same totals once rerun.
const exitGrace = time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	returned := make(chan struct{}) // closed when run has returned
	go func() {
		select {
		case <-ctx.Done():
		case <-returned:
			return
		}
		// A second signal now gets the default action: exit at once.
		stop()
		select {
		case <-returned: // exiting by itself (os.Exit may take a while)
		case <-time.After(exitGrace):
			fmt.Fprintf(os.Stderr, "ctm: still busy %v after %v; exiting\n", exitGrace, context.Cause(ctx))
			os.Exit(1)
		}
	}()
	env := &environ{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		vars:   os.Environ(),
		dotenv: ".env",
		isatty: isTerminal,
	}
	if lazyCommand(os.Args[1:]) {
		lazyGC()
	}
	code := run(ctx, os.Args[1:], env)
	close(returned)
	stop()
	os.Exit(code)
}

// lazyCommand reports whether args run a report (ctm daily, session,
// ...), a process that allocates some megabytes and exits, which runs
// with a lazy collector (see lazyGC). main sets it, not the command:
// tests run commands in their own process, which must keep its pace.
func lazyCommand(args []string) bool {
	_, ok := views.ReportKinds[firstArg(args)]
	return ok
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// command is one ctm subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, env *environ) int
}

func commands() map[string]command {
	cmds := map[string]command{
		"serve":      {"serve the dashboard, API and WebSocket feed", runServe},
		"blocks":     {"usage per 5-hour block, with limits, burn rate and projection", runBlocks},
		"budget":     {"cost budgets (BUDGETS_FILE) and the estimated 5-hour and weekly limits", runBudget},
		"statusline": {"one status line for Claude Code (reads its JSON on stdin)", runStatusline},
		"export":     {"export usage as CSV or JSON", runExport},
		"token":      {"create a push token for a team member (team server)", runToken},
		"push":       {"send local records to a team server", runPush},
		"config":     {"print the effective configuration (secrets masked)", runConfig},
		"prices":     {"the price table in force; 'prices update' fetches a newer one", runPrices},
		"breakdown":  {"where the money went: cost by branch, agent, skill, project or model", runBreakdown},
		"prompts":    {"the most expensive prompts, with what their responses cost", runPrompts},
		"mcp":        {"Model Context Protocol server on stdio, for Claude Code", runMCP},
		"version":    {"print the version", runVersion},
	}
	for name, kind := range views.ReportKinds {
		cmds[name] = command{"usage per " + kind.KeyName, func(ctx context.Context, args []string, env *environ) int {
			return runReport(ctx, kind, args, env)
		}}
	}
	return cmds
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, env *environ) int {
	switch {
	case len(args) == 0 || args[0] == "-h" || args[0] == "--help" || (args[0] == "help" && len(args) == 1):
		printHelp(env.stdout)
		return 0
	case args[0] == "--version" || args[0] == "-v" || args[0] == "-version":
		return runVersion(ctx, args[1:], env)
	case args[0] == "help":
		// "ctm help daily" is "ctm daily -h".
		args = []string{args[1], "-h"}
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "ctm: unknown command %q\n\n", args[0])
		printHelp(env.stderr)
		return 2
	}
	return cmd.run(ctx, args[1:], env)
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `ctm - Claude Token Monitor: what Claude Code costs, exactly.

usage: ctm <command> [flags]

reports (catch up the index, then answer from it):
  daily      usage per day
  weekly     usage per week (starting Monday)
  monthly    usage per month
  session    usage per session
  projects   usage per project
  blocks     usage per 5-hour block: limits, burn rate, projection (--live)
  breakdown  where the money went: --by branch, agent, skill, project or model
  prompts    the most expensive prompts (--top N), with their responses' cost

server:
  serve      the dashboard, JSON API and live feed on http://127.0.0.1:51888

team mode:
  token      'ctm token create --user NAME': a push token (needs DATABASE_URL)
  push       send local records to a team server (--watch to keep going)

other commands:
  export     usage per day or hour as CSV or JSON
  statusline one status line for Claude Code (reads its JSON on stdin)
  mcp        MCP server on stdio for Claude Code: 'claude mcp add ctm -- ctm mcp'
  prices     the price table in force ('ctm prices update' fetches a newer one)
  config     print the effective configuration (secrets masked)
  version    print the version

Run 'ctm <command> -h' or 'ctm help <command>' for the flags of a command,
'ctm --version' (or -v) for the version.
`)
}
