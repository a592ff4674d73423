package ingest

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Discover returns every transcript under <root>/projects of each root, in
// all layouts: the walk is recursive, so <session>/subagents/ and
// subagents/workflows/ are included. Roots, or their projects folders,
// that do not exist are skipped and logged; an unreadable subdirectory is
// logged and skipped. Paths are absolute, clean and listed once even when
// roots overlap. Discover fails only when ctx is done.
func Discover(ctx context.Context, roots []string, logger *slog.Logger) ([]string, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var paths []string
	seen := map[string]bool{}
	for _, root := range roots {
		dir, err := filepath.Abs(filepath.Join(root, "projects"))
		if err != nil {
			logger.Warn("skipping claude dir", slog.String("dir", root), slog.Any("error", err))
			continue
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			logger.Info("skipping claude dir without transcripts", slog.String("dir", dir), slog.Any("error", err))
			continue
		}
		// os.DirFS follows dir itself when it is a symlink, which
		// filepath.WalkDir does not; links below it are not followed.
		err = fs.WalkDir(os.DirFS(dir), ".", func(rel string, d fs.DirEntry, err error) error {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			path := filepath.Join(dir, filepath.FromSlash(rel))
			if err != nil {
				// Keep walking the rest of the tree; one unreadable
				// folder must not hide the others.
				logger.Warn("skipping unreadable path", slog.String("path", path), slog.Any("error", err))
				if d != nil && d.IsDir() && rel != "." {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || !strings.HasSuffix(d.Name(), ".jsonl") || seen[path] {
				return nil
			}
			if d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0 {
				seen[path] = true
				paths = append(paths, path)
			}
			return nil
		})
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
				return nil, err
			}
			logger.Warn("walk claude dir", slog.String("dir", dir), slog.Any("error", err))
		}
	}
	return paths, nil
}
