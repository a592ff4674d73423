// Package sqlite implements usage.Store on an embedded SQLite database
// (modernc.org/sqlite: pure Go, so the binary builds with CGO_ENABLED=0).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ usage.Store = (*Store)(nil)

// Store is a usage.Store backed by one SQLite file.
//
// It holds two pools on the same file. All writes go through a single
// connection: SQLite allows one writer at a time anyway, and serialising
// writers in the pool (instead of letting several connections race for the
// file lock) means writers in this process queue in Go and never see
// SQLITE_BUSY. Reads go through a separate pool because WAL lets readers
// run concurrently with each other and with the writer, so API reads never
// wait behind an ingest transaction.
type Store struct {
	// Now returns the current time. It stamps snapshots saved without a
	// time and applied migrations; tests replace it.
	Now func() time.Time

	path   string
	prices usage.Pricer
	writer *sql.DB
	reader *sql.DB

	closeOnce sync.Once
	closeErr  error

	// mirror is the in-memory copy of the rollup that Aggregate sums
	// (see mirror.go); noMirror turns it off so that tests can compare
	// it with the SQL path, and mirrorLimit, when set, replaces
	// maxMirrorRows.
	mirror      mirror
	noMirror    bool
	mirrorLimit int
	// files is the copy of the file states (filestates.go).
	files fileCopy
	// snapshotErr is the last failure to save the copy (snapshot.go) or
	// the file states, kept for tests: a failed save only costs the next
	// process time.
	snapshotErr atomic.Pointer[error]
	// savedGen is the generation of the saved copy as this process last
	// saw or wrote it, lastSave the time of its last save (unix ns).
	savedGen, lastSave atomic.Int64
	// rollupBase is the saved copy that the in-memory one was read from
	// or last written as, with the quarter hours patched since
	// (snapshot.go); nil when unknown.
	rollupBase atomic.Pointer[rollupBase]

	// bulkCheckpoint is whether the writer connection has the raised WAL
	// checkpoint threshold of large batches (see setCheckpoint). Only
	// write transactions read or change it, and they run one at a time
	// on the single writer connection.
	bulkCheckpoint bool

	// inPlace is whether a first index may write the database file in
	// place (see InPlaceFirstIndex); readers is the read pool's size.
	inPlace bool
	readers int

	// testHookBeforeCommit, when set, runs inside Apply after every row is
	// written and before the commit; crash tests kill the process there.
	testHookBeforeCommit func()
}

// busyTimeout is how long a connection waits for a lock held by another
// process (e.g. `ctm daily` running while `ctm serve` ingests) before
// failing with SQLITE_BUSY. Ingest transactions are short, so a few
// seconds is plenty and still surfaces a genuinely stuck lock.
const busyTimeout = 5 * time.Second

// Open opens the SQLite database at path, creating it and its parent
// directory if needed, applies pending migrations and, when the stored
// costs come from another price table, re-prices every record with prices.
// It returns EINVALID when path is empty or is not a SQLite database.
func Open(ctx context.Context, path string, prices usage.Pricer) (*Store, error) {
	if path == "" {
		return nil, usage.Errorf(usage.EINVALID, "database path is empty")
	}
	if prices == nil {
		return nil, errors.New("open sqlite: a price table is required")
	}
	if err := registerKeyHash(); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	// 0o700: the database reveals the user's projects, branches and
	// activity; other local users have no business reading it.
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite %q: create directory: %w", path, err)
	}

	s := &Store{Now: time.Now, path: abs, prices: prices}
	s.files.saved = -1
	s.writer, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	s.writer.SetMaxOpenConns(1)
	// Keep the writer connection open forever: reopening it would re-run
	// the PRAGMAs and drop its page cache.
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	s.reader, err = sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	// Enough readers for every core plus a little slack for requests that
	// wait on I/O; more would only add page caches that compete for memory.
	n := max(4, runtime.NumCPU())
	s.readers = n
	s.reader.SetMaxOpenConns(n)
	s.reader.SetMaxIdleConns(n)

	// Each connection parses the whole schema when it opens, about half a
	// millisecond, and every command needs a writer and a reader: when
	// the file exists, the reader connects while the writer does. A new
	// file is left to the writer, which creates it in WAL mode.
	readerUp := make(chan error, 1)
	early := false
	if _, err := os.Stat(abs); err == nil {
		early = true
		go func() { readerUp <- s.reader.PingContext(ctx) }()
	}
	fail := func(err error) (*Store, error) {
		if early {
			<-readerUp
		}
		s.reader.Close()
		s.writer.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	if err := s.connectWriter(ctx); err != nil {
		return fail(formatError(err))
	}
	if err := s.migrate(ctx); err != nil {
		return fail(err)
	}
	if err := s.repairKeyHashes(ctx); err != nil {
		return fail(err)
	}
	// Re-pricing takes the write lock; a read tells whether it is
	// needed, so that a report does not queue behind ctm serve's ingest
	// only to find the costs current.
	var fp string
	if err := s.writer.QueryRowContext(ctx, `SELECT prices FROM generation`).Scan(&fp); err != nil || fp != prices.Fingerprint() {
		if err := s.write(ctx, func(tx *sql.Tx) error { return s.ensurePriced(ctx, tx) }); err != nil {
			return fail(err)
		}
	}
	// The early ping may have waited out the busy timeout behind another
	// process's first index, which the writer then waited for: a failed
	// one is tried again now that the file is free, as a new file's
	// reader connects only now.
	if !early || <-readerUp != nil {
		early = false // received
		if err := s.reader.PingContext(ctx); err != nil {
			return fail(formatError(err))
		}
	}
	return s, nil
}

// connectWriter opens the writer connection. Its journal_mode PRAGMA
// fails with SQLITE_BUSY at once, without waiting, while another process
// writes a first index in place (see InPlaceFirstIndex); then it waits
// for that commit as busy_timeout waits for any other lock.
func (s *Store) connectWriter(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := s.writer.PingContext(ctx)
		var e *sqlite.Error
		if err == nil || !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// dsn returns the modernc.org/sqlite data source name for path. The
// PRAGMAs are in the DSN, not run once after Open, because database/sql may
// open new connections at any time and each must be configured.
func dsn(path string, writer bool) string {
	q := url.Values{}
	// Wait for locks held by other processes instead of failing at once.
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	// Foreign keys are off by default in SQLite, per connection; snapshot
	// rows rely on ON DELETE CASCADE when snapshots are pruned.
	q.Add("_pragma", "foreign_keys(1)")
	if writer {
		// WAL: readers never block the writer and the writer never blocks
		// readers, and a commit is one append to the log instead of a
		// rewrite of the database pages. The mode is stored in the file,
		// so the read pool inherits it.
		q.Add("_pragma", "journal_mode(WAL)")
		// NORMAL is safe in WAL mode: a crash or kill -9 never corrupts the
		// database or loses a committed transaction; only a power cut can
		// roll back the last commits, and ingest then re-reads them from
		// the file offsets committed with them. FULL would fsync every
		// commit for no gain in this use.
		q.Add("_pragma", "synchronous(NORMAL)")
		// BEGIN IMMEDIATE takes the write lock at the start of a
		// transaction, so busy_timeout applies; a deferred transaction that
		// upgrades from read to write can fail with SQLITE_BUSY at once.
		q.Set("_txlock", "immediate")
		// Upserts need a statement journal (to undo one statement that
		// fails midway); keeping it in memory instead of a temporary file
		// removes a write syscall per touched page from every Apply.
		q.Add("_pragma", "temp_store(MEMORY)")
		// An 8 MiB page cache (default 2 MiB) keeps the hot part of the
		// random-access key-hash index in memory during a large ingest. 64 MiB
		// was no faster on a 600 MB first index (the OS page cache holds
		// the rest) but raised its peak RSS from about 75 to 120 MB. A
		// first index, which touches no index at random, uses less (see
		// bulkCacheKiB).
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
		// Large batches let the WAL grow to 64 MB before a checkpoint
		// (see setCheckpoint); once a checkpoint has copied it all, the
		// next writer truncates the file to 16 MB instead of keeping it.
		q.Add("_pragma", "journal_size_limit(16777216)")
	} else {
		// The read pool must never write; make a mistake an error.
		q.Add("_pragma", "query_only(1)")
	}
	// A file: URI keeps '?' and '#' in the path from being read as the
	// query or fragment.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// Close closes both pools. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		// A copy patched since the last save is saved for the next
		// process.
		if st := s.mirror.cur.Load(); st != nil && !st.tooBig && st.gen != s.savedGen.Load() {
			s.saveCurrent(context.Background(), st)
		}
		if s.reader != nil {
			s.saveFileStates(context.Background())
		}
		var errs []error
		if s.reader != nil {
			errs = append(errs, s.reader.Close())
		}
		// Close the writer last: when the last connection closes SQLite
		// checkpoints the WAL into the database file and removes it.
		errs = append(errs, s.writer.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close sqlite %q: %w", s.path, err)
		}
	})
	return s.closeErr
}

// Checkpoint copies the write-ahead log into the database file without
// waiting for readers (a passive checkpoint). A report that caught up runs
// it while it reads, so that closing the store, which checkpoints what is
// left, does not spend that time (two fsyncs and a write per page) after
// the report is done.
func (s *Store) Checkpoint(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		return fmt.Errorf("checkpoint: %w", formatError(err))
	}
	return nil
}

// write runs fn in a write transaction and commits it when fn succeeds.
// Exported methods own transactions; helpers take the *sql.Tx.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", formatError(err))
	}
	// Rollback after a successful Commit is a no-op.
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", formatError(err))
	}
	return nil
}

// formatError turns driver errors that a user can act on into usage
// errors, and leaves the rest as they are.
func formatError(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	// Extended result codes are on; the primary code is the low byte.
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return usage.Errorf(usage.EINVALID, "file is not a SQLite database")
	case sqlite3.SQLITE_CORRUPT:
		return usage.Errorf(usage.EINVALID, "database file is corrupt")
	}
	return err
}

// ms converts t to the unix milliseconds stored in ts columns.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts stored unix milliseconds back to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// ceilMS returns the smallest unix millisecond that is not before t. A
// record stored at millisecond m passes `ts >= ceilMS(since)` exactly when
// its time is not before since, and `ts < ceilMS(until)` exactly when it is
// before until, even when the bound has sub-millisecond precision.
func ceilMS(t time.Time) int64 {
	m := t.UnixMilli() // floors, also before 1970
	if t.After(time.UnixMilli(m)) {
		m++
	}
	return m
}
