package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
)

// upsertFile stores the latest state of a file.
const upsertFile = `INSERT INTO files (path, device, inode, size, mtime, "offset", bad_lines, fingerprint)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (path) DO UPDATE SET
	device = excluded.device,
	inode = excluded.inode,
	size = excluded.size,
	mtime = excluded.mtime,
	"offset" = excluded."offset",
	bad_lines = excluded.bad_lines,
	fingerprint = excluded.fingerprint`

// applyFiles upserts file states, already validated, in one round trip.
func applyFiles(ctx context.Context, tx pgx.Tx, files []usage.FileState) error {
	if len(files) == 0 {
		return nil
	}
	var batch pgx.Batch
	for _, f := range files {
		var mtime *int64
		if !f.ModTime.IsZero() {
			ns := f.ModTime.UnixNano()
			mtime = &ns
		}
		// Device and inode are stored bit for bit: a uint64 above MaxInt64
		// becomes a negative bigint and converts back unchanged.
		// The fingerprint likewise; unknown (0) is NULL.
		var fingerprint *int64
		if f.Fingerprint != 0 {
			fp := int64(f.Fingerprint)
			fingerprint = &fp
		}
		batch.Queue(upsertFile, f.Path, int64(f.Device), int64(f.Inode), f.Size, mtime, f.Offset, f.BadLines, fingerprint)
	}
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return fmt.Errorf("apply: files: %w", formatError(err))
	}
	return nil
}

// FileStates returns the stored state of every file, by path.
func (s *Store) FileStates(ctx context.Context) (map[string]usage.FileState, error) {
	rows, err := s.pool.Query(ctx, `SELECT path, device, inode, size, mtime, "offset", bad_lines, fingerprint FROM files`)
	if err != nil {
		return nil, fmt.Errorf("file states: %w", formatError(err))
	}
	defer rows.Close()
	states := map[string]usage.FileState{}
	for rows.Next() {
		var (
			f             usage.FileState
			device, inode int64
			fingerprint   *int64
			mtime         *int64
		)
		if err := rows.Scan(&f.Path, &device, &inode, &f.Size, &mtime, &f.Offset, &f.BadLines, &fingerprint); err != nil {
			return nil, fmt.Errorf("file states: %w", formatError(err))
		}
		f.Device, f.Inode = uint64(device), uint64(inode)
		if fingerprint != nil {
			f.Fingerprint = uint64(*fingerprint)
		}
		if mtime != nil {
			f.ModTime = time.Unix(0, *mtime).UTC()
		}
		states[f.Path] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("file states: %w", formatError(err))
	}
	return states, nil
}
