package ingest

import (
	"context"
	"log/slog"

	"github.com/claude-token-monitor/ctm/internal/source/claude"
)

// Discover returns every transcript of Claude Code's layout under each
// root (see claude.Layout.Transcripts). It fails only when ctx is done.
func Discover(ctx context.Context, roots []string, logger *slog.Logger) ([]string, error) {
	return claude.New(roots).Transcripts(ctx, logger)
}
