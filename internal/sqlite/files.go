package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// upsertFile stores the latest state of a file.
const upsertFile = `INSERT INTO files (path, device, inode, size, mtime, "offset", bad_lines, fingerprint)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (path) DO UPDATE SET
	device = excluded.device,
	inode = excluded.inode,
	size = excluded.size,
	mtime = excluded.mtime,
	"offset" = excluded."offset",
	bad_lines = excluded.bad_lines,
	fingerprint = excluded.fingerprint`

// applyFiles upserts file states.
func applyFiles(ctx context.Context, tx *sql.Tx, files []usage.FileState) error {
	if len(files) == 0 {
		return nil
	}
	// Copies of the file states saved beside the database are valid at
	// one files_gen only (filestates.go). It is drawn at random rather
	// than counted: a database put back from a backup would count again
	// through the generations of the copy saved after the backup, with
	// other states.
	if _, err := tx.ExecContext(ctx, `UPDATE generation SET files_gen = random()`); err != nil {
		return fmt.Errorf("apply: bump files generation: %w", formatError(err))
	}
	stmt, err := tx.PrepareContext(ctx, upsertFile)
	if err != nil {
		return fmt.Errorf("apply: prepare files: %w", formatError(err))
	}
	defer stmt.Close()
	for _, f := range files {
		if f.Path == "" {
			return usage.Errorf(usage.EINVALID, "file state has no path")
		}
		var mtime sql.NullInt64
		if !f.ModTime.IsZero() {
			mtime = sql.NullInt64{Int64: f.ModTime.UnixNano(), Valid: true}
		}
		// Device and inode are stored bit for bit: a uint64 above MaxInt64
		// becomes a negative INTEGER and converts back unchanged.
		if _, err := stmt.ExecContext(ctx, f.Path, int64(f.Device), int64(f.Inode), f.Size,
			mtime, f.Offset, f.BadLines, fingerprintValue(f.Fingerprint)); err != nil {
			return fmt.Errorf("apply: file %q: %w", f.Path, formatError(err))
		}
	}
	return nil
}

// fingerprintValue stores a fingerprint bit for bit as an INTEGER, and
// the unknown fingerprint 0 as NULL.
func fingerprintValue(fp uint64) sql.NullInt64 {
	return sql.NullInt64{Int64: int64(fp), Valid: fp != 0}
}

// FileStates returns the stored state of every file, by path. The
// states come from this process's copy or the saved one when either is
// at the current files generation (see filestates.go), else from the
// table.
func (s *Store) FileStates(ctx context.Context) (map[string]usage.FileState, error) {
	return s.cachedFileStates(ctx)
}

// FileStatesOf returns the stored states of the given paths only, by path;
// a path never ingested is absent. `ctm statusline` catches up one
// session's files, and loading the states of every file (13k at 2 GB)
// was most of its time.
func (s *Store) FileStatesOf(ctx context.Context, paths []string) (map[string]usage.FileState, error) {
	states := make(map[string]usage.FileState, len(paths))
	for lo := 0; lo < len(paths); lo += 500 {
		hi := min(lo+500, len(paths))
		args := make([]any, 0, hi-lo)
		for _, p := range paths[lo:hi] {
			args = append(args, p)
		}
		if err := s.fileStates(ctx, states, ` WHERE path IN (`+strings.TrimSuffix(strings.Repeat("?, ", hi-lo), ", ")+`)`, args...); err != nil {
			return nil, err
		}
	}
	return states, nil
}

// fileStates adds the states of the files that pass cond to states.
func (s *Store) fileStates(ctx context.Context, states map[string]usage.FileState, cond string, args ...any) error {
	return queryFileStates(ctx, s.reader, states, cond, args...)
}

// querier is a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryFileStates adds the states of the files that pass cond, read
// through q, to states.
func queryFileStates(ctx context.Context, q querier, states map[string]usage.FileState, cond string, args ...any) error {
	rows, err := q.QueryContext(ctx,
		`SELECT path, device, inode, size, mtime, "offset", bad_lines, fingerprint FROM files`+cond, args...)
	if err != nil {
		return fmt.Errorf("file states: %w", formatError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			f             usage.FileState
			device, inode int64
			fingerprint   *int64
			mtime         sql.NullInt64
		)
		if err := rows.Scan(&f.Path, &device, &inode, &f.Size, &mtime, &f.Offset, &f.BadLines, &fingerprint); err != nil {
			return fmt.Errorf("file states: %w", formatError(err))
		}
		f.Device, f.Inode = uint64(device), uint64(inode)
		if fingerprint != nil {
			f.Fingerprint = uint64(*fingerprint)
		}
		if mtime.Valid {
			f.ModTime = time.Unix(0, mtime.Int64).UTC()
		}
		states[f.Path] = f
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("file states: %w", formatError(err))
	}
	return nil
}
