package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// mustOpen opens a store at path and closes it when the test ends.
func mustOpen(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), path, storetest.Prices)
	if err != nil {
		tb.Fatalf("Open(%q) = %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close() = %v", err)
		}
	})
	return s
}

// tempPath returns a database path in a fresh temporary directory.
func tempPath(tb testing.TB) string { return filepath.Join(tb.TempDir(), "ctm.db") }

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) usage.Store { return mustOpen(t, tempPath(t)) })
}

// testRecords returns n records with distinct keys, one a second from t.
func testRecords(n int, from time.Time, prefix string) []usage.Record {
	rs := make([]usage.Record, n)
	for i := range rs {
		rs[i] = usage.Record{
			Key:       fmt.Sprintf("%s%06d:req", prefix, i),
			MessageID: fmt.Sprintf("%s%06d", prefix, i),
			RequestID: "req",
			Timestamp: from.Add(time.Duration(i) * time.Second),
			Model:     "claude-opus-4-6",
			SessionID: fmt.Sprintf("s%d", i%7),
			Project:   fmt.Sprintf("/p/%d", i%3),
			Tokens:    usage.Tokens{Input: int64(i), Output: 2 * int64(i), CacheRead: 1000},
		}
	}
	return rs
}

var day = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func TestMigrationsAppliedOnce(t *testing.T) {
	path := tempPath(t)
	applied := func() []string {
		t.Helper()
		s := mustOpen(t, path)
		defer s.Close()
		rows, err := s.reader.Query(`SELECT name FROM migrations ORDER BY name`)
		if err != nil {
			t.Fatalf("query migrations: %v", err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatalf("scan migrations: %v", err)
			}
			names = append(names, n)
		}
		return names
	}
	want, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil || len(want) == 0 {
		t.Fatalf("embedded migrations = %v, %v; want at least one", want, err)
	}
	first := applied()
	second := applied() // reopening must not apply anything again
	if !slices.Equal(first, want) || !slices.Equal(second, want) {
		t.Errorf("migrations after open = %v, after reopen = %v, want %v", first, second, want)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := tempPath(t)
	rs := testRecords(50, day, "msg_")
	file := usage.FileState{Path: "/t/a.jsonl", Size: 9, Offset: 9, ModTime: day}
	s := mustOpen(t, path)
	if err := s.Apply(t.Context(), usage.Batch{Records: rs, Files: []usage.FileState{file}}); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if _, err := s.SaveSnapshot(t.Context(), usage.Snapshot{Time: day, Entries: 50}); err != nil {
		t.Fatalf("SaveSnapshot() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	s = mustOpen(t, path)
	if n, err := s.CountRecords(t.Context(), usage.Filter{}); err != nil || n != 50 {
		t.Errorf("after reopen, CountRecords() = %d, %v; want 50, nil", n, err)
	}
	files, err := s.FileStates(t.Context())
	if err != nil || files[file.Path].Offset != 9 || !files[file.Path].ModTime.Equal(day) {
		t.Errorf("after reopen, FileStates() = %+v, %v; want %+v", files, err, file)
	}
	snaps, total, err := s.Snapshots(t.Context(), time.Time{}, time.Time{}, usage.Page{})
	if err != nil || total != 1 || len(snaps) != 1 || snaps[0].Entries != 50 {
		t.Errorf("after reopen, Snapshots() = %+v, %d, %v; want the one saved", snaps, total, err)
	}
}

func TestPragmas(t *testing.T) {
	s := mustOpen(t, tempPath(t))
	for _, tc := range []struct {
		pool  string
		query string
		want  string
	}{
		{"writer", "PRAGMA journal_mode", "wal"},
		{"reader", "PRAGMA journal_mode", "wal"},
		{"writer", "PRAGMA synchronous", "1"}, // NORMAL
		{"writer", "PRAGMA foreign_keys", "1"},
		{"writer", "PRAGMA busy_timeout", "5000"},
		{"reader", "PRAGMA busy_timeout", "5000"},
		{"reader", "PRAGMA query_only", "1"},
	} {
		db := s.writer
		if tc.pool == "reader" {
			db = s.reader
		}
		var got string
		if err := db.QueryRow(tc.query).Scan(&got); err != nil {
			t.Fatalf("%s: %s = %v", tc.pool, tc.query, err)
		}
		if got != tc.want {
			t.Errorf("%s: %s = %q, want %q", tc.pool, tc.query, got, tc.want)
		}
	}
	if _, err := s.reader.Exec(`DELETE FROM records`); err == nil {
		t.Errorf("a write through the read pool succeeded, want an error")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	// Larger than a page header, so SQLite reads it and rejects it.
	if err := os.WriteFile(junk, []byte(strings.Repeat("this is not a database\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		path     string
		code     string
		contains []string
	}{
		{"Empty", "", usage.EINVALID, []string{"empty"}},
		{"NotADatabase", junk, usage.EINVALID, []string{junk, "not a SQLite database"}},
		{"ParentIsAFile", filepath.Join(notDir, "ctm.db"), usage.EINTERNAL, []string{notDir, "create directory"}},
		{"PathIsADirectory", dir, usage.EINTERNAL, []string{dir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.path, storetest.Prices)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) = nil error, want one", tc.path)
			}
			if got := usage.ErrorCode(err); got != tc.code {
				t.Errorf("Open(%q) error %q has code %q, want %q", tc.path, err, got, tc.code)
			}
			for _, c := range tc.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("Open(%q) error %q does not mention %q", tc.path, err, c)
				}
			}
		})
	}
}

func TestOpenCreatesDirectoriesAndOddPaths(t *testing.T) {
	// '?', '#' and '%' would be read as URI syntax if the path were not
	// escaped; the file must land at exactly this path.
	path := filepath.Join(t.TempDir(), "a b", "c?d#e%f", "ctm.db")
	s := mustOpen(t, path)
	if err := s.Apply(t.Context(), usage.Batch{Records: testRecords(1, day, "m")}); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not at %q: %v", path, err)
	}
}

func TestSaveSnapshotDefaultsToNow(t *testing.T) {
	s := mustOpen(t, tempPath(t))
	now := time.Date(2026, 3, 2, 12, 30, 0, 123_456_789, time.UTC)
	s.Now = func() time.Time { return now }
	got, err := s.SaveSnapshot(t.Context(), usage.Snapshot{Entries: 1})
	if err != nil {
		t.Fatalf("SaveSnapshot() = %v", err)
	}
	// Stored to the millisecond.
	if want := now.Truncate(time.Millisecond); !got.Time.Equal(want) {
		t.Errorf("SaveSnapshot(zero time).Time = %v, want %v", got.Time, want)
	}
}

func TestApplyRejectsOutOfRangeTimestamp(t *testing.T) {
	s := mustOpen(t, tempPath(t))
	rs := testRecords(1, time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), "m")
	err := s.Apply(t.Context(), usage.Batch{Records: rs})
	if got := usage.ErrorCode(err); got != usage.EINVALID {
		t.Errorf("Apply(year 12000) error %v has code %q, want %q", err, got, usage.EINVALID)
	}
}

func TestReadsDoNotWaitForWriter(t *testing.T) {
	// While an Apply transaction is open, readers see the last committed
	// state at once: WAL plus a read pool separate from the writer.
	s := mustOpen(t, tempPath(t))
	if err := s.Apply(t.Context(), usage.Batch{Records: testRecords(1, day, "a")}); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	var (
		during int64
		err    error
	)
	s.testHookBeforeCommit = func() {
		// The deadline only turns a regression (a read blocked behind the
		// writer) into a failure instead of a hung test.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		during, err = s.CountRecords(ctx, usage.Filter{})
	}
	if err := s.Apply(t.Context(), usage.Batch{Records: testRecords(2, day, "b")}); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if err != nil || during != 1 {
		t.Errorf("CountRecords() during a write = %d, %v; want 1, nil", during, err)
	}
	if n, err := s.CountRecords(t.Context(), usage.Filter{}); n != 3 || err != nil {
		t.Errorf("CountRecords() after the write = %d, %v; want 3, nil", n, err)
	}
}

func TestApplyContextCanceled(t *testing.T) {
	s := mustOpen(t, tempPath(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Apply(ctx, usage.Batch{Records: testRecords(3, day, "m")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply(canceled ctx) = %v, want context.Canceled", err)
	}
	if n, err := s.CountRecords(t.Context(), usage.Filter{}); n != 0 || err != nil {
		t.Errorf("CountRecords() = %d, %v; want 0, nil", n, err)
	}
}

// crashEnv names the database the crash helper process writes to.
const crashEnv = "CTM_SQLITE_CRASH_DB"

// crashRecords, with the helper's tiny page cache, is enough for the
// uncommitted transaction to spill pages into the WAL file before the
// process dies.
const crashRecords = 3000

// TestCrashHelper is the child process of TestCrashMidWrite: it starts a
// large Apply and kills itself (SIGKILL on Unix) before the commit.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashMidWrite")
	}
	s, err := Open(context.Background(), path, storetest.Prices)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	// The writer pool has one connection, so this sticks.
	if _, err := s.writer.Exec(`PRAGMA cache_size = 16`); err != nil {
		t.Fatalf("set cache size: %v", err)
	}
	s.testHookBeforeCommit = func() {
		p, err := os.FindProcess(os.Getpid())
		if err == nil {
			err = p.Kill()
		}
		t.Fatalf("kill self: %v", err)
	}
	moved := usage.FileState{Path: "/t/a.jsonl", Size: 1 << 30, Offset: 1 << 30}
	err = s.Apply(context.Background(), usage.Batch{Records: testRecords(crashRecords, day, "crash"), Files: []usage.FileState{moved}})
	t.Fatalf("Apply returned %v; the process should have died before commit", err)
}

func TestCrashMidWrite(t *testing.T) {
	path := tempPath(t)
	committed := testRecords(100, day, "ok")
	file := usage.FileState{Path: "/t/a.jsonl", Size: 100, Offset: 100}
	s := mustOpen(t, path)
	if err := s.Apply(t.Context(), usage.Batch{Records: committed, Files: []usage.FileState{file}}); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("helper process: %v, want it killed by a signal; output:\n%s", err, out)
	}
	// The dead transaction left pages in the WAL; recovery must ignore them.
	if st, err := os.Stat(path + "-wal"); err != nil || st.Size() < 64<<10 {
		t.Fatalf("WAL after the crash: %v, %v; want uncommitted pages on disk", st, err)
	}

	s = mustOpen(t, path)
	var check string
	if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v; want ok", check, err)
	}
	got, err := s.Records(t.Context(), usage.Filter{}, usage.Page{})
	if err != nil || len(got) != len(committed) || got[0].Key != committed[0].Key || got[99].Key != committed[99].Key {
		t.Errorf("after the crash, Records() = %d records, %v; want the %d committed", len(got), err, len(committed))
	}
	files, err := s.FileStates(t.Context())
	if err != nil || files[file.Path] != file {
		t.Errorf("after the crash, FileStates() = %+v, %v; want %+v", files, err, file)
	}
	// The store is writable again.
	if err := s.Apply(t.Context(), usage.Batch{Records: testRecords(5, day, "after")}); err != nil {
		t.Errorf("Apply() after the crash = %v", err)
	}
}

func TestFormatError(t *testing.T) {
	plain := errors.New("boom")
	if got := formatError(plain); got != plain {
		t.Errorf("formatError(%v) = %v, want it unchanged", plain, got)
	}
}

// rollupFromRecords recomputes the rollup table from records.
const rollupFromRecords = `SELECT ` + "qh, session_id, project, user, model, sum(cost), sum(input), sum(output), " +
	`sum(cache_creation_5m), sum(cache_creation_1h), sum(cache_read), sum(web_search_requests),
	sum(web_fetch_requests), sum(entries), min(first_ts), max(last_ts) FROM (` + "%s" + `)
	GROUP BY qh, session_id, project, user, model ORDER BY qh, session_id, project, user, model`

func TestRollupMatchesRecords(t *testing.T) {
	// Many copies of few responses, applied in scrambled batches, so that
	// the triggers insert, replace within and across groups, and empty
	// groups. The rollup must equal a GROUP BY over the records.
	s := mustOpen(t, tempPath(t))
	models := []string{"claude-opus-4-6", "claude-sonnet-4-5"}
	var copies []usage.Record
	for i := range 600 {
		h := mix(uint64(i))
		copies = append(copies, usage.Record{
			Key:       fmt.Sprintf("msg_%02d", h%50),
			Timestamp: day.Add(time.Duration(h%(3*3600)) * time.Second),
			Model:     models[h%2],
			SessionID: fmt.Sprintf("s%d", h%3),
			Project:   fmt.Sprintf("/p/%d", h%2),
			User:      fmt.Sprintf("u%d", h%2),
			Tokens:    usage.Tokens{Input: int64(h % 1000), Output: int64(h % 40), CacheRead: int64(h % 250000)},
		})
	}
	for i := 0; i < len(copies); i += 37 {
		if err := s.Apply(t.Context(), usage.Batch{Records: copies[i:min(i+37, len(copies))]}); err != nil {
			t.Fatalf("Apply() = %v", err)
		}
	}
	dump := func(q string) []string {
		t.Helper()
		rows, err := s.reader.Query(q)
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			v := make([]any, 16)
			p := make([]any, 16)
			for i := range v {
				p[i] = &v[i]
			}
			if err := rows.Scan(p...); err != nil {
				t.Fatalf("scan: %v", err)
			}
			out = append(out, fmt.Sprint(v...))
		}
		return out
	}
	got := dump(fmt.Sprintf(rollupFromRecords, rollupSource))
	want := dump(fmt.Sprintf(rollupFromRecords, recordsSource))
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("rollup =\n%s\nwant (from records)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestClosedStoreErrors(t *testing.T) {
	// Every method fails with an error, never a panic, once closed.
	s := mustOpen(t, tempPath(t))
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"Apply": func() error {
			return s.Apply(ctx, usage.Batch{Files: []usage.FileState{{Path: "/x"}}})
		},
		"FileStates":      func() error { _, err := s.FileStates(ctx); return err },
		"Aggregate":       func() error { _, err := s.Aggregate(ctx, usage.Filter{}, usage.ByNothing); return err },
		"Records":         func() error { _, err := s.Records(ctx, usage.Filter{}, usage.Page{}); return err },
		"CountRecords":    func() error { _, err := s.CountRecords(ctx, usage.Filter{}); return err },
		"LatestTimestamp": func() error { _, err := s.LatestTimestamp(ctx); return err },
		"SaveSnapshot":    func() error { _, err := s.SaveSnapshot(ctx, usage.Snapshot{}); return err },
		"Snapshots": func() error {
			_, _, err := s.Snapshots(ctx, time.Time{}, time.Time{}, usage.Page{})
			return err
		},
		"PruneSnapshots": func() error { _, err := s.PruneSnapshots(ctx, day); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s on a closed store = nil error, want one", name)
		} else if code := usage.ErrorCode(err); code != usage.EINTERNAL {
			t.Errorf("%s on a closed store: error %v has code %q, want %q", name, err, code, usage.EINTERNAL)
		}
	}
}

func TestOpenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s, err := Open(ctx, tempPath(t), storetest.Prices)
	if err == nil {
		s.Close()
		t.Fatalf("Open(canceled ctx) = nil error, want one")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open(canceled ctx) = %v, want context.Canceled in the chain", err)
	}
}

func TestAggregateRangeShapes(t *testing.T) {
	// Ranges inside one quarter hour, across one boundary, and with only
	// partial quarters at both ends read records and rollup rows in
	// different mixes; each must count every record once.
	s := mustOpen(t, tempPath(t))
	rs := testRecords(3600, day, "m") // one a second for an hour
	if err := s.Apply(t.Context(), usage.Batch{Records: rs}); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	for _, tc := range []struct {
		name         string
		since, until time.Duration
	}{
		{"InsideOneQuarter", 61 * time.Second, 119 * time.Second},
		{"AcrossOneBoundary", 14 * time.Minute, 16 * time.Minute},
		{"PartialBothEnds", 10 * time.Minute, 50 * time.Minute},
		{"AlignedBoth", 15 * time.Minute, 45 * time.Minute},
		{"Empty", 20 * time.Minute, 20 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := usage.Filter{Since: day.Add(tc.since), Until: day.Add(tc.until)}
			bs, err := s.Aggregate(t.Context(), f, usage.ByNothing)
			if err != nil {
				t.Fatalf("Aggregate() = %v", err)
			}
			var got int64
			for _, b := range bs {
				got += b.Entries
			}
			if want := int64((tc.until - tc.since) / time.Second); got != want {
				t.Errorf("Aggregate(%v..%v) entries = %d, want %d", tc.since, tc.until, got, want)
			}
		})
	}
}

func TestDivisions(t *testing.T) {
	for _, tc := range []struct{ a, floor, ceil int64 }{
		{0, 0, 0}, {1, 0, 1}, {4, 1, 1}, {5, 1, 2}, {-1, -1, 0}, {-4, -1, -1}, {-5, -2, -1},
	} {
		if got := floorDiv(tc.a, 4); got != tc.floor {
			t.Errorf("floorDiv(%d, 4) = %d, want %d", tc.a, got, tc.floor)
		}
		if got := ceilDiv(tc.a, 4); got != tc.ceil {
			t.Errorf("ceilDiv(%d, 4) = %d, want %d", tc.a, got, tc.ceil)
		}
	}
	// Sub-millisecond bounds round up, also before 1970.
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.UnixMilli(5), 5},
		{time.UnixMilli(5).Add(time.Microsecond), 6},
		{time.UnixMilli(-5).Add(time.Microsecond), -4},
	} {
		if got := ceilMS(tc.t); got != tc.want {
			t.Errorf("ceilMS(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestMigrationFailureIsReported(t *testing.T) {
	// A database with a conflicting table and no record of the migration
	// that would create it: Open must fail naming the migration, and leave
	// nothing half applied.
	path := tempPath(t)
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE files (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(t.Context(), path, storetest.Prices)
	if err == nil {
		s.Close()
		t.Fatalf("Open() = nil error, want a migration failure")
	}
	if !strings.Contains(err.Error(), "0001_init.sql") {
		t.Errorf("Open() error %q does not name the failed migration", err)
	}
	db, err = sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'records'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("records table after a failed migration: count %d, %v; want 0 (rolled back)", n, err)
	}
}

func TestStoreReprice(t *testing.T) {
	path := tempPath(t)
	storetest.RunReprice(t, func(t *testing.T, p usage.Pricer) usage.Store {
		s, err := Open(t.Context(), path, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
