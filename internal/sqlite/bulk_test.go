package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// bulkFirst is a Store whose Apply on an empty store goes through a Bulk,
// committed at once: the contract suite then checks the bulk path for
// every first batch it writes.
type bulkFirst struct{ *Store }

func (s bulkFirst) Apply(ctx context.Context, b usage.Batch) error {
	w, err := s.BeginBulk(ctx)
	if err != nil {
		return err
	}
	if w == nil {
		return s.Store.Apply(ctx, b)
	}
	if err := w.Apply(ctx, b); err != nil {
		w.Rollback()
		return err
	}
	return w.Commit(ctx)
}

func TestStoreBulk(t *testing.T) {
	storetest.Run(t, func(t *testing.T) usage.Store { return bulkFirst{mustOpen(t, tempPath(t))} })
}

// bulkBatches are batches whose records repeat across batches, with
// copies that win and lose by every rule of Prefer, some at the time
// bounds of their rollup rows.
func bulkBatches() []usage.Batch {
	a := testRecords(300, day, "a")
	b := testRecords(300, day.Add(time.Hour), "b")
	// Copies of a's records: more output (wins), less output (loses),
	// an earlier time (wins, and moves the record to another quarter
	// hour), another session (wins on the smaller id), an agent (wins).
	var c []usage.Record
	for i := 0; i < 300; i += 5 {
		r := a[i]
		switch i % 25 {
		case 0:
			r.Output += 7
		case 5:
			r.Output--
		case 10:
			r.Timestamp = r.Timestamp.Add(-20 * time.Minute)
		case 15:
			r.SessionID = "a-first"
		case 20:
			r.Agent = "Explore"
		}
		c = append(c, r)
	}
	// The same copies again, in a later batch, and a copy of a copy.
	d := append([]usage.Record(nil), c[:20]...)
	d[0].Output += 100
	files := func(p string) []usage.FileState { return []usage.FileState{{Path: p, Size: 10, Offset: 10}} }
	prompts := []usage.Prompt{{Key: "s1:u1", SessionID: "s1", Project: "/p/1", Timestamp: day, Text: "hi"},
		{Key: "s1:u2", SessionID: "s1", Project: "/p/1", Timestamp: day.Add(time.Minute), Text: "more"}}
	return []usage.Batch{
		{Records: a[:150], Files: files("/t/a"), Prompts: prompts},
		{Records: append(append([]usage.Record(nil), b...), a[150:]...), Files: files("/t/b"), Prompts: prompts[:1]},
		{Records: c, Files: files("/t/c")},
		{Records: d, Files: files("/t/d"), Prompts: prompts},
	}
}

// TestBulkMatchesApply writes the same batches through Apply and through
// one Bulk and compares everything stored: records, rollup rows, prompts
// and file states.
func TestBulkMatchesApply(t *testing.T) {
	want, got := bulkAndApply(t, bulkBatches)
	ctx := t.Context()
	// The indexes are back: a second Bulk is refused and Apply upserts.
	if w, err := got.BeginBulk(ctx); w != nil || err != nil {
		t.Errorf("BeginBulk() on a store with records = %v, %v; want nil, nil", w, err)
	}
	if err := got.Apply(ctx, bulkBatches()[0]); err != nil {
		t.Errorf("Apply() after Bulk = %v", err)
	}
	for _, s := range []*Store{want, got} {
		if n, _ := s.CountRecords(ctx, usage.Filter{}); n != 600 {
			t.Errorf("CountRecords() = %d, want 600", n)
		}
	}
}

// TestBulkWideValues stores, through a Bulk, records whose values its
// packed insert cannot carry: counts of 2^21 and more or below zero, and
// keys that do not tell message_id and request_id. They are rewritten in
// full, when first inserted and when a copy replaces them, and match what
// Apply stores.
func TestBulkWideValues(t *testing.T) { bulkAndApply(t, wideBatches) }

// TestBulkLaterReplacements applies the replacements of inserted records
// as they come (a limit of 1) and a few at a time, where the default
// limit keeps them all until the commit.
func TestBulkLaterReplacements(t *testing.T) {
	defer func(n int) { laterLimit = n }(laterLimit)
	for _, n := range []int{1, 3} {
		laterLimit = n
		bulkAndApply(t, bulkBatches)
		bulkAndApply(t, wideBatches)
	}
	// Hundreds at once replace whole statements of rows, some of them
	// with values the packed form cannot carry.
	laterLimit = 4096
	bulkAndApply(t, func() []usage.Batch {
		rs := testRecords(300, day, "m")
		c := append([]usage.Record(nil), rs...)
		for i := range c {
			c[i].Output += 1 + int64(i%2)<<30
		}
		return []usage.Batch{{Records: rs}, {Records: c}}
	})
}

// wideBatches returns batches of records with values a Bulk's packed
// insert cannot carry, and copies of them that win.
func wideBatches() []usage.Batch {
	rs := testRecords(200, day, "w")
	for i := range rs {
		r := &rs[i]
		switch i % 6 {
		case 0:
			r.Input = 1 << 21
		case 1:
			r.CacheRead = 1<<40 + int64(i)
		case 2:
			r.WebFetchRequests = -1
		case 3:
			r.Key = "other-" + r.Key
		case 4:
			r.MessageID = "m:" + r.MessageID
			r.Key = r.MessageID + ":" + r.RequestID
		}
		if i%10 == 0 {
			r.IsSidechain = true
			r.Agent = "Explore"
		}
	}
	// Copies that win: some replace a record still queued, the
	// second batch's those already inserted.
	c := append([]usage.Record(nil), rs[:100]...)
	for i := range c {
		c[i].Output += 1 << 22
	}
	return []usage.Batch{{Records: append(rs[:150:150], c[:30]...)}, {Records: append(rs[150:], c[30:]...)}}
}

// bulkAndApply writes the batches through Apply into one store and
// through one Bulk into another, compares everything stored, and returns
// both stores.
func bulkAndApply(t *testing.T, batches func() []usage.Batch) (want, got *Store) {
	t.Helper()
	ctx := t.Context()
	want = mustOpen(t, tempPath(t))
	for _, b := range batches() {
		if err := want.Apply(ctx, b); err != nil {
			t.Fatalf("Apply() = %v", err)
		}
	}
	got = mustOpen(t, tempPath(t))
	w, err := got.BeginBulk(ctx)
	if err != nil || w == nil {
		t.Fatalf("BeginBulk() = %v, %v; want a writer", w, err)
	}
	for _, b := range batches() {
		if err := w.Apply(ctx, b); err != nil {
			t.Fatalf("Bulk.Apply() = %v", err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	for _, q := range []string{
		`SELECT ` + recordColumns + ` FROM records ORDER BY key`,
		`SELECT * FROM rollup ORDER BY qh, session_id, project, user, model`,
		`SELECT * FROM prompts ORDER BY key`,
		`SELECT path, size, "offset" FROM files ORDER BY path`,
		`SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`,
	} {
		if a, b := dump(t, want, q), dump(t, got, q); !reflect.DeepEqual(a, b) {
			t.Errorf("%s:\nApply stored %d rows %v\nBulk stored %d rows %v", q, len(a), head(a), len(b), head(b))
		}
	}
	for _, dim := range []usage.Dimension{usage.ByNothing, usage.BySession, usage.ByProject} {
		a, err1 := want.Aggregate(ctx, usage.Filter{}, dim)
		b, err2 := got.Aggregate(ctx, usage.Filter{}, dim)
		// Aggregate leaves the order of buckets open.
		for _, bs := range [][]usage.Bucket{a, b} {
			slices.SortFunc(bs, func(x, y usage.Bucket) int { return cmp.Compare(x.Key+x.Model, y.Key+y.Model) })
		}
		if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("Aggregate(%v): Apply %v, %v; Bulk %v, %v", dim, a, err1, b, err2)
		}
	}
	return want, got
}

// TestBulkRollback leaves the store empty and usable, indexes included.
func TestBulkRollback(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, tempPath(t))
	schema := dump(t, s, `SELECT type, name, sql FROM sqlite_schema ORDER BY type, name`)
	w, err := s.BeginBulk(ctx)
	if err != nil || w == nil {
		t.Fatalf("BeginBulk() = %v, %v", w, err)
	}
	if err := w.Apply(ctx, bulkBatches()[0]); err != nil {
		t.Fatalf("Bulk.Apply() = %v", err)
	}
	// A record without a key fails the batch, as Apply would.
	if err := w.Apply(ctx, usage.Batch{Records: []usage.Record{{Timestamp: day}}}); usage.ErrorCode(err) != usage.EINVALID {
		t.Errorf("Bulk.Apply(no key) = %v, want EINVALID", err)
	}
	if err := w.Rollback(); err != nil {
		t.Fatalf("Rollback() = %v", err)
	}
	if n, err := s.CountRecords(ctx, usage.Filter{}); n != 0 || err != nil {
		t.Errorf("CountRecords() after Rollback = %d, %v; want 0", n, err)
	}
	if got := dump(t, s, `SELECT type, name, sql FROM sqlite_schema ORDER BY type, name`); !reflect.DeepEqual(got, schema) {
		t.Errorf("schema after Rollback differs:\n%v\nwant\n%v", got, schema)
	}
	if err := s.Apply(ctx, bulkBatches()[0]); err != nil {
		t.Errorf("Apply() after Rollback = %v", err)
	}
}

func dump(t *testing.T, s *Store, q string) [][]any {
	t.Helper()
	rows, err := s.reader.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func head(rows [][]any) [][]any { return rows[:min(len(rows), 3)] }

// bulkCrashEnv names the database the bulk crash helper writes to;
// bulkCrashInPlace, when set, makes it write the file in place.
const (
	bulkCrashEnv     = "CTM_SQLITE_BULK_CRASH_DB"
	bulkCrashInPlace = "CTM_SQLITE_BULK_CRASH_IN_PLACE"
)

// TestBulkCrashHelper is the child process of TestBulkCrash: it writes a
// first index in a Bulk and kills itself (SIGKILL on Unix) at the end of
// Commit, after the indexes are built and before the commit.
func TestBulkCrashHelper(t *testing.T) {
	path := os.Getenv(bulkCrashEnv)
	if path == "" {
		t.Skip("helper process for TestBulkCrash")
	}
	s, err := Open(context.Background(), path, storetest.Prices)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	if os.Getenv(bulkCrashInPlace) != "" {
		s.InPlaceFirstIndex()
	}
	s.testHookBeforeCommit = func() {
		p, err := os.FindProcess(os.Getpid())
		if err == nil {
			err = p.Kill()
		}
		t.Fatalf("kill self: %v", err)
	}
	w, err := s.BeginBulk(context.Background())
	if err != nil || w == nil {
		t.Fatalf("BeginBulk() = %v, %v", w, err)
	}
	if inPlace := os.Getenv(bulkCrashInPlace) != ""; w.(*Bulk).inPlace != inPlace {
		t.Fatalf("the Bulk writes in place: %v, want %v", !inPlace, inPlace)
	}
	// A tiny page cache makes the Bulk write pages before its commit.
	if _, err := w.(*Bulk).tx.Exec(`PRAGMA cache_size = 16`); err != nil {
		t.Fatalf("set cache size: %v", err)
	}
	for _, b := range bulkBatches() {
		if err := w.Apply(context.Background(), b); err != nil {
			t.Fatalf("Bulk.Apply() = %v", err)
		}
	}
	err = w.Commit(context.Background())
	t.Fatalf("Commit returned %v; the process should have died before the commit", err)
}

// TestBulkCrash kills a process in the middle of a first index, written
// through the WAL or in place: the store it leaves is the empty one it
// started from, with its indexes, and a first index run again gives what a
// clean run gives.
func TestBulkCrash(t *testing.T) {
	t.Run("wal", func(t *testing.T) { testBulkCrash(t, false) })
	t.Run("in place", func(t *testing.T) { testBulkCrash(t, true) })
}

func testBulkCrash(t *testing.T, inPlace bool) {
	path := tempPath(t)
	s := mustOpen(t, path)
	schema := dump(t, s, `SELECT type, name, sql FROM sqlite_schema ORDER BY type, name`)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBulkCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), bulkCrashEnv+"="+path)
	if inPlace {
		cmd.Env = append(cmd.Env, bulkCrashInPlace+"=1")
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("helper process: %v, want it killed by a signal; output:\n%s", err, out)
	}
	if inPlace {
		// Uncommitted pages in the file itself (eight pages at least:
		// the packed rows of a Bulk spill less than the WAL holds), and
		// the hot journal that undoes them.
		if st, err := os.Stat(path); err != nil || st.Size() < before.Size()+32<<10 {
			t.Fatalf("database after the crash: %v, %v; want uncommitted pages past its %d bytes", st, err, before.Size())
		}
		if _, err := os.Stat(path + "-journal"); err != nil {
			t.Fatalf("journal after the crash: %v", err)
		}
	} else if st, err := os.Stat(path + "-wal"); err != nil || st.Size() < 64<<10 {
		t.Fatalf("WAL after the crash: %v, %v; want uncommitted pages on disk", st, err)
	}
	// The rollup's snapshot is written only once the commit is done.
	if ents, err := os.ReadDir(filepath.Dir(path)); err == nil {
		for _, e := range ents {
			if strings.Contains(e.Name(), "rollup") {
				t.Errorf("the crash left %s", e.Name())
			}
		}
	}
	s = mustOpen(t, path)
	var check string
	if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v; want ok", check, err)
	}
	if mode := journalMode(t, s); mode != "wal" {
		t.Errorf("journal mode after the crash = %q, want wal", mode)
	}
	if got := dump(t, s, `SELECT type, name, sql FROM sqlite_schema ORDER BY type, name`); !reflect.DeepEqual(got, schema) {
		t.Errorf("schema after the crash differs:\n%v\nwant\n%v", got, schema)
	}
	for _, q := range []string{`SELECT count(*) FROM records`, `SELECT count(*) FROM rollup`,
		`SELECT count(*) FROM prompts`, `SELECT count(*) FROM files`} {
		if got := dump(t, s, q); got[0][0] != int64(0) {
			t.Errorf("%s after the crash = %v, want 0", q, got[0][0])
		}
	}
	clean := mustOpen(t, tempPath(t))
	for _, st := range []*Store{s, clean} {
		w, err := st.BeginBulk(t.Context())
		if err != nil || w == nil {
			t.Fatalf("BeginBulk() = %v, %v", w, err)
		}
		for _, b := range bulkBatches() {
			if err := w.Apply(t.Context(), b); err != nil {
				t.Fatalf("Bulk.Apply() = %v", err)
			}
		}
		if err := w.Commit(t.Context()); err != nil {
			t.Fatalf("Commit() = %v", err)
		}
	}
	for _, q := range []string{`SELECT ` + recordColumns + ` FROM records ORDER BY key`,
		`SELECT * FROM rollup ORDER BY qh, session_id, project, user, model`} {
		if a, b := dump(t, clean, q), dump(t, s, q); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: after the crash %d rows, clean run %d", q, len(b), len(a))
		}
	}
}

// TestMirrorSnapshot checks that a second process (a second Store on the
// file) decodes the saved copy of the rollup instead of reading its rows,
// gets the same aggregates, and ignores the copy once the store changed.
func TestMirrorSnapshot(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	s := mustOpen(t, path)
	for _, b := range bulkBatches() {
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.Aggregate(ctx, usage.Filter{}, usage.ByQuarterHour)
	if err != nil {
		t.Fatal(err)
	}
	if e := s.snapshotErr.Load(); e != nil {
		t.Fatalf("saving the snapshot: %v", *e)
	}
	var gen int64
	if err := s.reader.QueryRow(`SELECT gen FROM generation`).Scan(&gen); err != nil {
		t.Fatal(err)
	}
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := s.readSnapshot(ctx, tx, gen)
	stale, _, _ := s.readSnapshot(ctx, tx, gen+1)
	tx.Rollback()
	if err != nil || st == nil || stale != nil {
		t.Fatalf("readSnapshot() = %v, %v, at another generation %v; want the saved copy, and none", st, err, stale)
	}
	decoded, err := st.allRows()
	if err != nil {
		t.Fatalf("decoding the snapshot's rows: %v", err)
	}
	if cur := s.mirror.cur.Load(); !reflect.DeepEqual(decoded, cur.rows) || !reflect.DeepEqual(st.dict.names, cur.dict.names) {
		t.Errorf("decoded snapshot differs from the copy it was saved from")
	}
	// The file belongs to this database: another instance at the same
	// generation does not take it.
	file, err := os.ReadFile(s.snapshotPath())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeSnapshot(file, []byte("another database"), gen); err == nil {
		t.Error("decodeSnapshot() accepted the copy of another instance")
	}
	var instance []byte
	if err := s.reader.QueryRow(`SELECT instance FROM generation`).Scan(&instance); err != nil || len(instance) != 16 {
		t.Fatalf("instance = %x, %v; want 16 random bytes", instance, err)
	}
	if _, err := decodeSnapshot(file, instance, gen); err != nil {
		t.Fatalf("decodeSnapshot() of the saved file = %v", err)
	}
	file[len(file)/2] ^= 1
	if _, err := decodeSnapshot(file, instance, gen); err == nil {
		t.Error("decodeSnapshot() accepted a corrupted file")
	}
	other := mustOpen(t, path)
	got, err := other.Aggregate(ctx, usage.Filter{}, usage.ByQuarterHour)
	sortBuckets := func(bs []usage.Bucket) {
		slices.SortFunc(bs, func(x, y usage.Bucket) int { return cmp.Or(x.Time.Compare(y.Time), cmp.Compare(x.Model, y.Model)) })
	}
	sortBuckets(want)
	sortBuckets(got)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Aggregate from the snapshot = %v, %v; want %v", len(got), err, len(want))
	}
	// A change makes the saved copy stale: the next load reads the rows.
	if err := s.Apply(ctx, usage.Batch{Records: testRecords(3, day.AddDate(0, 0, 1), "late")}); err != nil {
		t.Fatal(err)
	}
	third := mustOpen(t, path)
	all, err := third.Aggregate(ctx, usage.Filter{}, usage.ByNothing)
	var n int64
	for _, b := range all {
		n += b.Entries
	}
	if err != nil || n != 603 {
		t.Errorf("after a change, Aggregate counts %d records, %v; want 603", n, err)
	}
	// A blob that does not decode is ignored.
	for _, bad := range [][]byte{nil, []byte("x"), []byte(snapshotMagic), append([]byte(snapshotMagic), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)} {
		if _, err := decodeMirror(bad, 1); err == nil {
			t.Errorf("decodeMirror(%q) = nil error", bad)
		}
	}
	blob := encodeMirror(st)
	for i := len(snapshotMagic); i < len(blob); i += 7 {
		decodeMirror(blob[:i], 1) // must not panic
	}
}

func TestFileStatesOf(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, tempPath(t))
	var files []usage.FileState
	for i := range 700 { // more than one IN list of 500
		files = append(files, usage.FileState{Path: fmt.Sprintf("/t/%03d.jsonl", i), Size: int64(i), Offset: int64(i)})
	}
	if err := s.Apply(ctx, usage.Batch{Files: files}); err != nil {
		t.Fatal(err)
	}
	all, err := s.FileStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/t/001.jsonl", "/t/650.jsonl", "/t/missing.jsonl"}
	for i := 100; i < 700; i++ {
		paths = append(paths, files[i].Path)
	}
	got, err := s.FileStatesOf(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 601 {
		t.Errorf("FileStatesOf() = %d states, want 601 (the missing path absent)", len(got))
	}
	for p, st := range got {
		if all[p] != st {
			t.Errorf("FileStatesOf()[%s] = %+v, FileStates has %+v", p, st, all[p])
		}
	}
}

// TestBulkHandsOverRollup checks that a committed Bulk leaves the store
// with the in-memory rollup that a reload from SQLite would give, and its
// snapshot saved for the next process, both when some rows' bounds were
// recomputed in SQL at commit and when none were; and that a failed
// commit leaves neither.
func TestBulkHandsOverRollup(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		batches []usage.Batch
		stale   bool
		chunk   int
	}{
		{"bounds recomputed", bulkBatches(), true, 500},
		{"bounds recomputed a row a query", bulkBatches(), true, 1},
		{"sums only", bulkBatches()[:2], false, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(old int) { staleChunk = old }(staleChunk)
			staleChunk = tc.chunk
			path := tempPath(t)
			s := mustOpen(t, path)
			w, err := s.beginBulk(ctx)
			if err != nil || w == nil {
				t.Fatalf("beginBulk() = %v, %v", w, err)
			}
			for _, b := range tc.batches {
				if err := w.Apply(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			if got := len(w.stale) > 0; got != tc.stale {
				t.Fatalf("stale rollup rows: %v, want %v", got, tc.stale)
			}
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if e := s.snapshotErr.Load(); e != nil {
				t.Fatalf("saving the snapshot: %v", *e)
			}
			// Every row's bounds are its records' first and last times.
			var wrong int
			if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM rollup u
				JOIN (SELECT `+quarterExpr+` AS qh, session_id, project, user, model, min(ts) AS first, max(ts) AS last
					FROM records GROUP BY 1, 2, 3, 4, 5) r USING (qh, session_id, project, user, model)
				WHERE u.first_ts != r.first OR u.last_ts != r.last`).Scan(&wrong); err != nil || wrong != 0 {
				t.Fatalf("%d rollup rows have bounds other than their records' (%v)", wrong, err)
			}
			tx, err := s.reader.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var gen int64
			if err := tx.QueryRow(`SELECT gen FROM generation`).Scan(&gen); err != nil {
				t.Fatal(err)
			}
			loaded, err := loadMirror(ctx, tx, gen, maxMirrorRows)
			if err != nil {
				t.Fatal(err)
			}
			saved, _, err := s.readSnapshot(ctx, tx, gen)
			tx.Rollback()
			if err != nil || saved == nil {
				t.Fatalf("readSnapshot() = %v, %v; want the copy saved at commit", saved, err)
			}
			cur := s.mirror.cur.Load()
			if cur == nil || cur.gen != gen || s.savedGen.Load() != gen {
				t.Fatalf("in-memory rollup %v, saved generation %d; want both at %d", cur, s.savedGen.Load(), gen)
			}
			for name, st := range map[string]*mirrorState{"handed over": cur, "saved": saved} {
				rows, err := st.allRows()
				if err != nil || !reflect.DeepEqual(rows, loaded.rows) || !reflect.DeepEqual(st.dict.names, loaded.dict.names) {
					t.Errorf("%s rollup (%d rows, %v) differs from the one read back (%d rows)", name, len(rows), err, len(loaded.rows))
				}
			}
			// The next process takes the saved copy, not the table: a
			// row changed behind the generation's back does not show.
			want, err := s.Aggregate(ctx, usage.Filter{}, usage.ByNothing)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.writer.ExecContext(ctx, `UPDATE rollup SET input = input + 1`); err != nil {
				t.Fatal(err)
			}
			got, err := mustOpen(t, path).Aggregate(ctx, usage.Filter{}, usage.ByNothing)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("next process's Aggregate = %v, %v; want %v from the saved copy", got, err, want)
			}
			// Once the store changes, the saved copy is stale and the
			// next process reads the table.
			if err := s.Apply(ctx, usage.Batch{Records: testRecords(1, day.AddDate(0, 0, 2), "late")}); err != nil {
				t.Fatal(err)
			}
			got, err = mustOpen(t, path).Aggregate(ctx, usage.Filter{}, usage.ByNothing)
			var in, n int64
			for _, b := range got {
				in, n = in+b.Input, n+b.Entries
			}
			if err != nil || n != want[0].Entries+1 || in == want[0].Input {
				t.Errorf("after a change, Aggregate = %v, %v; want the table's %d rows plus one record", got, err, want[0].Entries)
			}
		})
	}
	t.Run("too big to keep", func(t *testing.T) {
		s := mustOpen(t, tempPath(t))
		s.mirrorLimit = 1
		if err := (bulkFirst{s}).Apply(ctx, bulkBatches()[0]); err != nil {
			t.Fatal(err)
		}
		if cur := s.mirror.cur.Load(); cur == nil || !cur.tooBig {
			t.Fatalf("in-memory rollup %v; want one marked too big", cur)
		}
		if _, err := os.Stat(s.snapshotPath()); err == nil {
			t.Error("a rollup too big to keep was saved")
		}
		all, err := s.Aggregate(ctx, usage.Filter{}, usage.ByNothing)
		if err != nil || len(all) != 1 || all[0].Entries != 150 {
			t.Errorf("Aggregate() = %v, %v; want the 150 records, from SQL", all, err)
		}
	})
	t.Run("failed commit", func(t *testing.T) {
		dir := t.TempDir()
		s := mustOpen(t, dir+"/ctm.db")
		w, err := s.BeginBulk(ctx)
		if err != nil || w == nil {
			t.Fatalf("BeginBulk() = %v, %v", w, err)
		}
		if err := w.Apply(ctx, bulkBatches()[0]); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := w.Commit(cctx); err == nil {
			t.Fatal("Commit(cancelled) = nil")
		}
		if cur := s.mirror.cur.Load(); cur != nil {
			t.Errorf("a failed commit left an in-memory rollup at generation %d", cur.gen)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), "rollup") {
				t.Errorf("a failed commit left %s", e.Name())
			}
		}
	})
}

// journalMode returns the journal mode of s's file.
func journalMode(t *testing.T, s *Store) string {
	t.Helper()
	var mode string
	if err := s.reader.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatalf("PRAGMA journal_mode: %v", err)
	}
	return mode
}

// writeBulk writes bulkBatches through one Bulk of s and reports whether
// it wrote in place.
func writeBulk(t *testing.T, s *Store, beforeCommit func()) bool {
	t.Helper()
	w, err := s.BeginBulk(t.Context())
	if err != nil || w == nil {
		t.Fatalf("BeginBulk() = %v, %v", w, err)
	}
	for _, b := range bulkBatches() {
		if err := w.Apply(t.Context(), b); err != nil {
			t.Fatalf("Bulk.Apply() = %v", err)
		}
	}
	if beforeCommit != nil {
		beforeCommit()
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	return w.(*Bulk).inPlace
}

// TestBulkInPlace checks when a first index writes the file in place: only
// when asked and when no other connection has the file open. It stores what
// a first index through the WAL stores, leaves the file in WAL mode, and
// another process that opens the store meanwhile waits for its commit.
func TestBulkInPlace(t *testing.T) {
	wal := mustOpen(t, tempPath(t))
	if writeBulk(t, wal, nil) {
		t.Fatal("a Bulk wrote in place without InPlaceFirstIndex")
	}

	// Another store on the file (another process, to SQLite) keeps it in
	// WAL mode.
	path := tempPath(t)
	s := mustOpen(t, path)
	s.InPlaceFirstIndex()
	other := mustOpen(t, path)
	if writeBulk(t, s, nil) {
		t.Error("a Bulk wrote in place while another connection had the file open")
	}
	other.Close()

	path = tempPath(t)
	s = mustOpen(t, path)
	s.InPlaceFirstIndex()
	opened := make(chan error, 1)
	inPlace := writeBulk(t, s, func() {
		go func() {
			o, err := Open(context.Background(), path, storetest.Prices)
			if err == nil {
				err = o.Close()
			}
			opened <- err
		}()
		// Long enough for the Open to have met the lock.
		time.Sleep(100 * time.Millisecond)
		select {
		case err := <-opened:
			t.Errorf("Open during an in-place first index returned %v before its commit", err)
			opened <- err
		default:
		}
	})
	if !inPlace {
		t.Fatal("the Bulk did not write in place")
	}
	if err := <-opened; err != nil {
		t.Errorf("Open during an in-place first index = %v, want it to wait for the commit", err)
	}
	if mode := journalMode(t, s); mode != "wal" {
		t.Errorf("journal mode after an in-place first index = %q, want wal", mode)
	}
	for _, q := range []string{`SELECT ` + recordColumns + ` FROM records ORDER BY key`,
		`SELECT * FROM rollup ORDER BY qh, session_id, project, user, model`,
		`SELECT * FROM prompts ORDER BY key`, `SELECT * FROM files ORDER BY path`,
		`SELECT type, name, sql FROM sqlite_schema ORDER BY type, name`} {
		if a, b := dump(t, wal, q), dump(t, s, q); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: in place\n%v\nthrough the WAL\n%v", q, b, a)
		}
	}
}

// TestBulkCache checks that a Bulk writes with its small page cache and
// gives the writer connection back with the usual one, whether it commits
// or rolls back.
func TestBulkCache(t *testing.T) {
	ctx := t.Context()
	s := mustOpen(t, tempPath(t))
	cache := func(q func(string, ...any) *sql.Row) int {
		t.Helper()
		var n int
		if err := q(`PRAGMA cache_size`).Scan(&n); err != nil {
			t.Fatalf("PRAGMA cache_size: %v", err)
		}
		return n
	}
	if got := cache(s.writer.QueryRow); got != -writerCacheKiB {
		t.Fatalf("writer cache_size = %d, want %d", got, -writerCacheKiB)
	}
	for _, commit := range []bool{false, true} {
		w, err := s.BeginBulk(ctx)
		if err != nil || w == nil {
			t.Fatalf("BeginBulk() = %v, %v", w, err)
		}
		b := w.(*Bulk)
		if got := cache(b.tx.QueryRow); got != -bulkCacheKiB {
			t.Errorf("cache_size in a Bulk = %d, want %d", got, -bulkCacheKiB)
		}
		if err := w.Apply(ctx, bulkBatches()[0]); err != nil {
			t.Fatalf("Bulk.Apply() = %v", err)
		}
		if commit {
			err = w.Commit(ctx)
		} else {
			err = w.Rollback()
		}
		if err != nil {
			t.Fatalf("commit %v: %v", commit, err)
		}
		if got := cache(s.writer.QueryRow); got != -writerCacheKiB {
			t.Errorf("writer cache_size after a Bulk (commit %v) = %d, want %d", commit, got, -writerCacheKiB)
		}
	}
}

// TestKeySlots checks the map of keys of a Bulk with keys whose first
// hashes collide, which real hashes make too rare to meet.
func TestKeySlots(t *testing.T) {
	k := keySlots{at: map[uint64]int32{}}
	hashes := [][2]uint64{{1, 1}, {1, 2}, {2, 1}, {1, 3}}
	for n := range 3 * slotChunk {
		hashes = append(hashes, [2]uint64{uint64(n % 1000), uint64(n + 10)})
	}
	for i, h := range hashes {
		if _, ok := k.find(h); ok {
			t.Fatalf("find(%v) before add: found", h)
		}
		if got := k.add(h, bulkSlot{ts: int64(i)}); got != int32(i) {
			t.Fatalf("add(%v) = %d, want %d", h, got, i)
		}
	}
	for i, h := range hashes {
		j, ok := k.find(h)
		if !ok || j != int32(i) || k.slot(j).ts != int64(i) || k.slot(j).h2 != h[1] {
			t.Errorf("find(%v) = %d, %v (slot %+v), want %d", h, j, ok, *k.slot(j), i)
		}
	}
	if _, ok := k.find([2]uint64{1, 4}); ok {
		t.Error("find of a key never added, whose first hash others have: found")
	}
}

// encodeMirror returns st as the magic and writeMirror's body, or nil
// when st's blocks cannot be had.
func encodeMirror(st *mirrorState) []byte {
	var b bytes.Buffer
	b.Grow(mirrorSize(st))
	b.WriteString(snapshotMagic)
	if writeMirror(&b, st) != nil {
		return nil
	}
	return b.Bytes()
}

// decodeMirror is the inverse of encodeMirror.
func decodeMirror(b []byte, gen int64) (*mirrorState, error) {
	if len(b) < len(snapshotMagic) || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, errSnapshot
	}
	return decodeMirrorBody(b[len(snapshotMagic):], gen)
}

// TestBulkRowEmptiedThenRefilled: a rollup row whose only record moves to
// another row by a preferred copy, then gets a later record, is bounded
// by that record, not by the one that left (a first index once kept the
// old bound, depending on the order files came in).
func TestBulkRowEmptiedThenRefilled(t *testing.T) {
	ctx := t.Context()
	for _, viaLater := range []bool{false, true} {
		s := mustOpen(t, tempPath(t))
		w, err := s.beginBulk(ctx)
		if err != nil || w == nil {
			t.Fatalf("beginBulk() = %v, %v", w, err)
		}
		rs := testRecords(3, day.Add(time.Minute), "e")
		for i := range rs {
			rs[i].SessionID, rs[i].Project = "s", "/p"
		}
		a, b := rs[0], rs[1]
		moved := a
		moved.Output += 10                       // preferred
		moved.Timestamp = day.Add(2 * time.Hour) // in another quarter hour
		b.Timestamp = day.Add(5 * time.Minute)   // a's quarter hour, later
		if err := w.Apply(ctx, usage.Batch{Records: []usage.Record{a}}); err != nil {
			t.Fatal(err)
		}
		if viaLater {
			if err := w.flush(ctx); err != nil { // a is stored: the copy waits in later
				t.Fatal(err)
			}
		}
		for _, r := range []usage.Record{moved, b} {
			if err := w.Apply(ctx, usage.Batch{Records: []usage.Record{r}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		var first, last int64
		if err := s.reader.QueryRowContext(ctx, `SELECT first_ts, last_ts FROM rollup WHERE qh = ?`,
			ms(day)/quarterHourMS).Scan(&first, &last); err != nil {
			t.Fatal(err)
		}
		if first != ms(b.Timestamp) || last != ms(b.Timestamp) {
			t.Errorf("via later %v: row bounds %d..%d, want %d, the one record left", viaLater, first, last, ms(b.Timestamp))
		}
	}
}
