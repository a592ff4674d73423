package main

import (
	"context"
	"encoding/json"
	"github.com/claude-token-monitor/ctm/internal/config"
)

func runConfig(_ context.Context, args []string, env *environ) int {
	fs := newFlagSet("config", env.stderr, "ctm config [flags]",
		"Prints the effective configuration (defaults < .env < environment < flags) as JSON, with secrets masked.")
	cfg, code := env.loadConfig(fs, args, config.AllFlags)
	if code != 0 {
		return max(code, 0)
	}
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg.Redacted()); err != nil {
		return 1
	}
	return 0
}
