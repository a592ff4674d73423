package sqlite

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// spreadRecords returns n records one every 7 minutes from t, so that
// they fill many quarter hours.
func spreadRecords(n int, from time.Time, prefix string) []usage.Record {
	rs := testRecords(n, from, prefix)
	for i := range rs {
		rs[i].Timestamp = from.Add(time.Duration(i) * 7 * time.Minute)
	}
	return rs
}

// reportOnce is one process that applies recs, reads every aggregate
// (which loads or patches its copy of the rollup) and closes, saving the
// copy.
func reportOnce(t *testing.T, path string, recs []usage.Record) {
	t.Helper()
	s := mustOpen(t, path)
	if _, err := s.Aggregate(t.Context(), usage.Filter{}, usage.ByQuarterHour); err != nil {
		t.Fatal(err)
	}
	if len(recs) > 0 {
		if err := s.Apply(t.Context(), usage.Batch{Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Aggregate(t.Context(), usage.Filter{}, usage.ByQuarterHour); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.snapshotErr.Load(); err != nil {
		t.Fatalf("saving the copy: %v", *err)
	}
}

// checkSnapshotMatchesSQL fails unless a new process answers every
// dimension from its saved copy as SQL does; it returns whether the copy
// came from the snapshot with a delta.
func checkSnapshotMatchesSQL(t *testing.T, path string) (fromDelta bool) {
	t.Helper()
	mem, sql := mustOpen(t, path), mustOpen(t, path)
	sql.noMirror = true
	for _, dim := range []usage.Dimension{usage.ByNothing, usage.ByQuarterHour, usage.BySession, usage.ByProject, usage.ByUser, usage.BySessionQuarterHour} {
		got, err := mem.Aggregate(t.Context(), usage.Filter{}, dim)
		if err != nil {
			t.Fatal(err)
		}
		want, err := sql.Aggregate(t.Context(), usage.Filter{}, dim)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := sortedBuckets(got), sortedBuckets(want); !slices.Equal(g, w) {
			t.Fatalf("Aggregate(%d) from the saved copy:\n%+v\nSQL:\n%+v", dim, g, w)
		}
	}
	b := mem.rollupBase.Load()
	return b != nil && b.gen != b.at
}

func snapshotFiles(t *testing.T, path string) (snap, delta string) {
	t.Helper()
	a, err := os.ReadFile(path + "-rollup")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path + "-rollup-delta")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(a), string(b)
}

func TestSnapshotSavedAsDelta(t *testing.T) {
	path := tempPath(t)
	reportOnce(t, path, spreadRecords(600, day, "a"))
	snap, delta := snapshotFiles(t, path)
	if delta != "" {
		t.Fatal("a delta after the first save")
	}
	// Small appends, some to quarter hours that had rows and with new
	// sessions (names), save deltas on the same snapshot.
	for i := range 3 {
		recs := testRecords(3, day.Add(time.Duration(i)*time.Hour), fmt.Sprintf("b%d", i))
		recs[0].SessionID = fmt.Sprintf("new-session-%d", i)
		reportOnce(t, path, recs)
		s, d := snapshotFiles(t, path)
		if s != snap || d == "" {
			t.Fatalf("after small append %d: snapshot rewritten %v, delta %d bytes; want the snapshot kept and a delta", i, s != snap, len(d))
		}
		if !checkSnapshotMatchesSQL(t, path) {
			t.Fatalf("after small append %d the copy was not read from the snapshot and its delta", i)
		}
	}
	// A copy replaced in another quarter hour moves rows out of one: the
	// delta says that quarter hour changed too.
	moved := testRecords(1, day.Add(20*time.Hour), "b0")
	moved[0].Tokens.Output = 1 << 20 // preferred over the stored copy
	reportOnce(t, path, moved)
	if !checkSnapshotMatchesSQL(t, path) {
		t.Fatal("after a moved record the copy was not read from the snapshot and its delta")
	}
	// A large change writes the snapshot again and removes the delta.
	reportOnce(t, path, spreadRecords(400, day.Add(time.Hour), "c"))
	if s, d := snapshotFiles(t, path); s == snap || d != "" {
		t.Fatalf("after a large append: snapshot rewritten %v, delta %d bytes; want a new snapshot only", s != snap, len(d))
	}
	checkSnapshotMatchesSQL(t, path)
}

func TestSnapshotDeltaOfAnotherSnapshot(t *testing.T) {
	// A delta whose snapshot was replaced (by a kill between writing a
	// new snapshot and removing the delta, or by another process) must
	// not be applied to the new one.
	path := tempPath(t)
	reportOnce(t, path, spreadRecords(600, day, "a"))
	reportOnce(t, path, testRecords(2, day, "b"))
	_, delta := snapshotFiles(t, path)
	if delta == "" {
		t.Fatal("no delta after a small append")
	}
	reportOnce(t, path, spreadRecords(400, day.Add(time.Hour), "c"))
	if err := os.WriteFile(path+"-rollup-delta", []byte(delta), 0o600); err != nil {
		t.Fatal(err)
	}
	// A writer that saves nothing (killed) moves the generation on, so
	// that the next process looks for a delta.
	s, err := Open(t.Context(), path, storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	s.noMirror = true
	if err := s.Apply(t.Context(), usage.Batch{Records: testRecords(1, day, "d")}); err != nil {
		t.Fatal(err)
	}
	s.writer.Close()
	s.reader.Close()
	if checkSnapshotMatchesSQL(t, path) {
		t.Fatal("the delta of another snapshot was applied")
	}
}

func TestSnapshotDeltaDecode(t *testing.T) {
	path := tempPath(t)
	reportOnce(t, path, spreadRecords(300, day, "a"))
	s := mustOpen(t, path)
	if _, err := s.Aggregate(t.Context(), usage.Filter{}, usage.ByNothing); err != nil {
		t.Fatal(err)
	}
	base := s.mirror.cur.Load()
	b := s.rollupBase.Load()
	if err := s.Apply(t.Context(), usage.Batch{Records: testRecords(2, day, "new")}); err != nil {
		t.Fatal(err)
	}
	st := s.mirror.cur.Load()
	nb := s.rollupBase.Load()
	if b == nil || nb == nil || nb.at != st.gen || len(nb.dirty) == 0 {
		t.Fatalf("rollup base %+v after a patch to %d", nb, st.gen)
	}
	inst := []byte("0123456789abcdef")
	data, ok := encodeSnapshotDelta(st, inst, nb)
	if !ok {
		t.Fatal("a small patch did not encode as a delta")
	}
	// A base whose dictionary numbers the same strings otherwise (another
	// copy of the same generation, read from the rows) gets no delta.
	other := *nb
	other.names = slices.Clone(nb.names)
	if len(other.names) < 3 {
		t.Fatalf("dictionary of %d names, want a few", len(other.names))
	}
	other.names[1], other.names[2] = other.names[2], other.names[1]
	if _, ok := encodeSnapshotDelta(st, inst, &other); ok {
		t.Error("a delta was encoded against a dictionary that numbers the names otherwise")
	}
	got, qhs, err := applySnapshotDelta(base, data, inst, st.gen, b)
	if err != nil || len(qhs) != len(nb.dirty) || got.count() != st.count() || !slices.Equal(got.dict.names, st.dict.names) {
		t.Fatalf("applySnapshotDelta = %v rows, %v; want %d rows", got, err, st.count())
	}
	wantRows, _ := st.allRows()
	if gotRows, err := got.allRows(); err != nil || !slices.Equal(gotRows, wantRows) {
		t.Fatalf("rows after the delta = %v, want %v", err, len(wantRows))
	}
	for name, try := range map[string]func() error{
		"another generation": func() error { _, _, err := applySnapshotDelta(base, data, inst, st.gen+1, b); return err },
		"another instance":   func() error { _, _, err := applySnapshotDelta(base, data, []byte("x"), st.gen, b); return err },
		"another snapshot": func() error {
			o := *b
			o.crc++
			_, _, err := applySnapshotDelta(base, data, inst, st.gen, &o)
			return err
		},
	} {
		if try() == nil {
			t.Errorf("a delta applied for %s", name)
		}
	}
	for i := range data {
		if _, _, err := applySnapshotDelta(base, data[:i], inst, st.gen, b); err == nil {
			t.Fatalf("a delta cut at %d of %d bytes applied", i, len(data))
		}
		c := append([]byte(nil), data...)
		c[i] ^= 0x41
		if _, _, err := applySnapshotDelta(base, c, inst, st.gen, b); err == nil {
			t.Fatalf("a delta with byte %d changed applied", i)
		}
	}
}

// TestStaleCopyNotSaved: a process whose copy fell behind another's writes
// (a long-running ctm serve, a report between its patches) does not
// replace, when it closes, the current copy that the other one saved.
func TestStaleCopyNotSaved(t *testing.T) {
	path := tempPath(t)
	reportOnce(t, path, spreadRecords(300, day, "a"))
	a := mustOpen(t, path)
	if _, err := a.Aggregate(t.Context(), usage.Filter{}, usage.ByQuarterHour); err != nil {
		t.Fatal(err)
	}
	// Two patches: the second is left to Close (savePeriod).
	for i := range 2 {
		if err := a.Apply(t.Context(), usage.Batch{Records: testRecords(1, day.Add(time.Duration(i)*time.Hour), fmt.Sprintf("a%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	reportOnce(t, path, testRecords(2, day, "b"))
	snap, delta := snapshotFiles(t, path)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.snapshotErr.Load(); err != nil {
		t.Fatalf("closing: %v", *err)
	}
	if s, d := snapshotFiles(t, path); s != snap || d != delta {
		t.Fatalf("the stale process rewrote the saved copy (snapshot %v, delta %v)", s != snap, d != delta)
	}
	checkSnapshotMatchesSQL(t, path)
}
