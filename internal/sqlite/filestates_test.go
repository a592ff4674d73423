package sqlite

import (
	"context"
	"fmt"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// someStates returns n file states with every field set, some with a
// zero time or fingerprint.
func someStates(n int, offset int64) []usage.FileState {
	var out []usage.FileState
	for i := range n {
		f := usage.FileState{
			Path: fmt.Sprintf("/p/proj-%d/s%03d.jsonl", i%3, i), Device: 1<<63 + uint64(i), Inode: uint64(i * 7),
			Size: offset + int64(i), Offset: offset + int64(i), BadLines: int64(i % 2),
			ModTime: time.Date(2026, 1, 2, 3, 4, 5, i, time.Local), Fingerprint: uint64(i) * 0x9e3779b97f4a7c15,
		}
		if i%5 == 0 {
			f.ModTime, f.Fingerprint = time.Time{}, 0
		}
		out = append(out, f)
	}
	return out
}

// tableStates reads the files table itself.
func tableStates(t *testing.T, s *Store) map[string]usage.FileState {
	t.Helper()
	got := map[string]usage.FileState{}
	if err := s.fileStates(t.Context(), got, ""); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestFileStatesEncodeRoundTrip(t *testing.T) {
	states := map[string]usage.FileState{}
	for _, f := range someStates(50, 10) {
		states[f.Path] = storedFileState(f)
	}
	inst := []byte("0123456789abcdef")
	b := encodeFileStates(states, inst, 7)
	got, err := decodeFileStates(b, inst, 7)
	if err != nil || !maps.Equal(got, states) {
		t.Fatalf("decode(encode) = %v, %v; want the states back", len(got), err)
	}
	if _, err := decodeFileStates(b, inst, 8); err == nil {
		t.Error("a copy of generation 7 decoded as generation 8")
	}
	if _, err := decodeFileStates(b, []byte("another instance"), 7); err == nil {
		t.Error("a copy of another database decoded")
	}
	if _, err := decodeFileStates(b, nil, 7); err == nil {
		t.Error("a copy decoded without an instance")
	}
	// Every truncation and every flipped byte must fail, never panic or
	// return other states.
	for i := range b {
		if _, err := decodeFileStates(b[:i], inst, 7); err == nil {
			t.Fatalf("a copy cut at %d of %d bytes decoded", i, len(b))
		}
		c := append([]byte(nil), b...)
		c[i] ^= 0x41
		if _, err := decodeFileStates(c, inst, 7); err == nil {
			t.Fatalf("a copy with byte %d changed decoded", i)
		}
	}
	empty := encodeFileStates(map[string]usage.FileState{}, inst, 0)
	if got, err := decodeFileStates(empty, inst, 0); err != nil || len(got) != 0 {
		t.Errorf("decode(encode(empty)) = %v, %v", got, err)
	}
}

func TestFileStatesSavedCopy(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	a, err := Open(ctx, path, storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.FileStates(ctx); err != nil {
		t.Fatal(err)
	}
	first := someStates(20, 100)
	if err := a.Apply(ctx, usage.Batch{Files: first}); err != nil {
		t.Fatal(err)
	}
	// A failed batch changes neither the table nor the copy.
	bad := append(someStates(3, 999), usage.FileState{})
	if err := a.Apply(ctx, usage.Batch{Files: bad}); err == nil {
		t.Fatal("Apply of a state without a path succeeded")
	}
	if got, err := a.FileStates(ctx); err != nil || !maps.Equal(got, tableStates(t, a)) {
		t.Fatalf("FileStates() after a failed batch = %d states, %v; want the table's", len(got), err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.snapshotErr.Load(); err != nil {
		t.Fatalf("saving the copy: %v", *err)
	}
	if _, err := os.Stat(path + "-files"); err != nil {
		t.Fatalf("no saved copy after Close: %v", err)
	}

	// The next process decodes the saved copy, which matches the table.
	b := mustOpen(t, path)
	want := tableStates(t, b)
	if len(want) != len(first) {
		t.Fatalf("table has %d states, want %d", len(want), len(first))
	}
	got, err := b.FileStates(ctx)
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("FileStates() from the saved copy = %d states, %v; want the table's %d", len(got), err, len(want))
	}
	if b.files.saved != b.files.gen {
		t.Error("FileStates() read the table although the saved copy was current")
	}
	// The caller owns the map it gets.
	for k := range got {
		delete(got, k)
	}
	if again, _ := b.FileStates(ctx); !maps.Equal(again, want) {
		t.Error("changing the returned map changed the store's copy")
	}

	// Another process writes states meanwhile and never saves its copy
	// (killed): b must not answer from its copy or from the saved file.
	c, err := Open(ctx, path, storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	moved := someStates(25, 5000)
	if err := c.Apply(ctx, usage.Batch{Files: moved}); err != nil {
		t.Fatal(err)
	}
	c.writer.Close() // as kill -9 would: no save
	c.reader.Close()
	got, err = b.FileStates(ctx)
	if err != nil || !maps.Equal(got, tableStates(t, b)) || len(got) != len(moved) {
		t.Fatalf("FileStates() after another writer = %d states, %v; want the table's %d", len(got), err, len(moved))
	}
	// b patches its own writes on top, and saves what it has at Close.
	more := someStates(30, 7000)[25:]
	if err := b.Apply(ctx, usage.Batch{Files: more}); err != nil {
		t.Fatal(err)
	}
	got, err = b.FileStates(ctx)
	if err != nil || !maps.Equal(got, tableStates(t, b)) || len(got) != 30 {
		t.Fatalf("FileStates() after b's own batch = %d states, %v; want the table's 30", len(got), err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	d := mustOpen(t, path)
	if got, err := d.FileStates(ctx); err != nil || !maps.Equal(got, tableStates(t, d)) || d.files.saved != d.files.gen {
		t.Fatalf("FileStates() after b closed = %d states, %v (from the file: %v); want the table's from the file", len(got), err, d.files.saved == d.files.gen)
	}
}

func TestFileStatesCopyOfAnotherDatabase(t *testing.T) {
	// Two databases at the same files generation: the saved copy of one
	// put beside the other (a database deleted and created again at the
	// same path) must not be trusted.
	ctx := context.Background()
	pa, pb := tempPath(t), tempPath(t)
	for i, p := range []string{pa, pb} {
		s, err := Open(ctx, p, storetest.Prices)
		if err != nil {
			t.Fatal(err)
		}
		s.FileStates(ctx)
		if err := s.Apply(ctx, usage.Batch{Files: someStates(4, int64(i*100))}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(pa + "-files")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pb+"-files", data, 0o600); err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t, pb)
	got, err := b.FileStates(ctx)
	if err != nil || !maps.Equal(got, tableStates(t, b)) {
		t.Fatalf("FileStates() = %v, %v; want the table's, not the other database's", got, err)
	}
}

func TestFileStatesAfterBulk(t *testing.T) {
	// A first index writes its states in one bulk transaction, which the
	// copy loaded before it cannot follow: the copy saved at Close, and
	// the one the next process decodes, must still be the table's. A bulk
	// writer that stored states without bumping files_gen would fail here.
	ctx := context.Background()
	path := tempPath(t)
	a, err := Open(ctx, path, storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.FileStates(ctx); err != nil || len(got) != 0 {
		t.Fatalf("FileStates() of a new store = %v, %v", got, err)
	}
	w, err := a.BeginBulk(ctx)
	if err != nil || w == nil {
		t.Fatalf("BeginBulk() = %v, %v", w, err)
	}
	if err := w.Apply(ctx, usage.Batch{Records: testRecords(3, day, "bulk"), Files: someStates(12, 40)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := a.FileStates(ctx); err != nil || !maps.Equal(got, tableStates(t, a)) || len(got) != 12 {
		t.Fatalf("FileStates() after the bulk commit = %d states, %v; want the table's 12", len(got), err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.snapshotErr.Load(); err != nil {
		t.Fatalf("saving the copy: %v", *err)
	}
	b := mustOpen(t, path)
	if got, err := b.FileStates(ctx); err != nil || !maps.Equal(got, tableStates(t, b)) || b.files.saved != b.files.gen {
		t.Fatalf("FileStates() of the next process = %d states, %v (from the file: %v); want the table's from the file", len(got), err, b.files.saved == b.files.gen)
	}
}

func TestFileStatesBackupRestored(t *testing.T) {
	// A database put back from a backup keeps its instance and files
	// generation; the saved copy beside it was taken later. Writes after
	// the restore reach the copy's generation with other states: the
	// copy must not be taken for them.
	ctx := context.Background()
	path := tempPath(t)
	write := func(states []usage.FileState, load bool) {
		s, err := Open(ctx, path, storetest.Prices)
		if err != nil {
			t.Fatal(err)
		}
		if load {
			if _, err := s.FileStates(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Apply(ctx, usage.Batch{Files: states}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(someStates(4, 100), true)
	backup, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write(someStates(6, 200), true) // saves its copy at Close
	if err := os.WriteFile(path, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	// A writer that never loads every state (ctm statusline) saves none.
	write(someStates(5, 300), false)
	s := mustOpen(t, path)
	got, err := s.FileStates(ctx)
	if want := tableStates(t, s); err != nil || !maps.Equal(got, want) {
		t.Fatalf("FileStates() after a restore = %d states, %v; want the table's %d", len(got), err, len(want))
	}
}

func TestSnapshotBackupRestored(t *testing.T) {
	// As TestFileStatesBackupRestored, for the saved rollup: writes after
	// a restore reach the generation of the snapshot saved after the
	// backup, with other records.
	ctx := context.Background()
	path := tempPath(t)
	entries := func(s *Store) int64 {
		all, err := s.Aggregate(ctx, usage.Filter{}, usage.ByNothing)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, b := range all {
			n += b.Entries
		}
		return n
	}
	write := func(recs []usage.Record, read bool) {
		s, err := Open(ctx, path, storetest.Prices)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(ctx, usage.Batch{Records: recs}); err != nil {
			t.Fatal(err)
		}
		if read {
			entries(s)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(testRecords(4, day, "a"), true)
	backup, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write(testRecords(6, day, "b"), true) // saves its snapshot at Close
	if err := os.WriteFile(path, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	write(testRecords(2, day, "c"), false)
	s := mustOpen(t, path)
	if n := entries(s); n != 6 {
		t.Fatalf("entries after a restore = %d; want 6 (4 + 2)", n)
	}
}

func TestFilesDeltaEncodeRoundTrip(t *testing.T) {
	changed := map[string]usage.FileState{}
	for _, f := range someStates(6, 30) {
		changed[f.Path] = storedFileState(f)
	}
	inst := []byte("0123456789abcdef")
	base := savedBase{gen: -3, crc: 0xdeadbeef}
	b := encodeFilesDelta(changed, inst, 9, base)
	got, err := decodeFilesDelta(b, inst, 9, base)
	if err != nil || !maps.Equal(got, changed) {
		t.Fatalf("decode(encode) = %v, %v; want the changes back", len(got), err)
	}
	for name, check := range map[string]func() error{
		"another generation": func() error { _, err := decodeFilesDelta(b, inst, 10, base); return err },
		"another instance":   func() error { _, err := decodeFilesDelta(b, []byte("another instance"), 9, base); return err },
		"no instance":        func() error { _, err := decodeFilesDelta(b, nil, 9, base); return err },
		"another base":       func() error { _, err := decodeFilesDelta(b, inst, 9, savedBase{gen: 4, crc: base.crc}); return err },
		"another base file":  func() error { _, err := decodeFilesDelta(b, inst, 9, savedBase{gen: base.gen, crc: 1}); return err },
		"a base file": func() error {
			_, err := decodeFilesDelta(encodeFileStates(changed, inst, 9), inst, 9, base)
			return err
		},
	} {
		if check() == nil {
			t.Errorf("a delta decoded for %s", name)
		}
	}
	for i := range b {
		if _, err := decodeFilesDelta(b[:i], inst, 9, base); err == nil {
			t.Fatalf("a delta cut at %d of %d bytes decoded", i, len(b))
		}
		c := append([]byte(nil), b...)
		c[i] ^= 0x41
		if _, err := decodeFilesDelta(c, inst, 9, base); err == nil {
			t.Fatalf("a delta with byte %d changed decoded", i)
		}
	}
}

// filesSaved returns the saved base and delta files of s ("" when absent).
func filesSaved(t *testing.T, s *Store) (base, delta string) {
	t.Helper()
	b, err := os.ReadFile(s.filesPath())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	d, err := os.ReadFile(s.filesDeltaPath())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b), string(d)
}

// catchUpFiles is one process that loads every state, applies states
// and closes, as a report that catches up does.
func catchUpFiles(t *testing.T, path string, states []usage.FileState) {
	t.Helper()
	s, err := Open(t.Context(), path, storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FileStates(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(t.Context(), usage.Batch{Files: states}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.snapshotErr.Load(); err != nil {
		t.Fatalf("saving the copy: %v", *err)
	}
}

// checkFromFile fails unless a new process reads the table's states
// from the saved files.
func checkFromFile(t *testing.T, path string) {
	t.Helper()
	s := mustOpen(t, path)
	got, err := s.FileStates(t.Context())
	if want := tableStates(t, s); err != nil || !maps.Equal(got, want) {
		t.Fatalf("FileStates() = %d states, %v; want the table's %d", len(got), err, len(want))
	}
	if s.files.saved != s.files.gen {
		t.Fatal("FileStates() read the table although the saved files were current")
	}
}

func TestFileStatesSavedAsDelta(t *testing.T) {
	path := tempPath(t)
	all := someStates(80, 100)
	catchUpFiles(t, path, all)
	base, delta := filesSaved(t, mustOpen(t, path))
	if base == "" || delta != "" {
		t.Fatalf("after the first catch-up: base %d bytes, delta %d bytes; want a base only", len(base), len(delta))
	}
	// Small catch-ups save only what they changed, on top of that base,
	// and the next process puts the two together.
	for i := range 3 {
		f := all[i]
		f.Offset, f.Size = f.Offset+1000, f.Size+1000
		catchUpFiles(t, path, []usage.FileState{f, someStates(81+i, 9000)[80+i]})
		checkFromFile(t, path)
		b, d := filesSaved(t, mustOpen(t, path))
		if b != base || d == "" {
			t.Fatalf("after small catch-up %d: base changed %v, delta %d bytes; want the base kept and a delta", i, b != base, len(d))
		}
	}
	// Once the changes reach an eighth of the states, the base is
	// written again and the delta goes.
	catchUpFiles(t, path, someStates(20, 50_000))
	checkFromFile(t, path)
	if b, d := filesSaved(t, mustOpen(t, path)); b == base || d != "" {
		t.Fatalf("after a large catch-up: base changed %v, delta %d bytes; want a new base only", b != base, len(d))
	}
}

func TestFilesDeltaOfAnotherBase(t *testing.T) {
	// A process killed between writing a base and removing the old delta,
	// or a delta written on a base that another process replaced since,
	// leaves a delta that names another base: it must be ignored.
	path := tempPath(t)
	catchUpFiles(t, path, someStates(40, 100))
	catchUpFiles(t, path, someStates(1, 7000))
	_, delta := filesSaved(t, mustOpen(t, path))
	if delta == "" {
		t.Fatal("no delta after a small catch-up")
	}
	catchUpFiles(t, path, someStates(30, 20_000)) // a new base, the delta removed
	if err := os.WriteFile(path+"-files-delta", []byte(delta), 0o600); err != nil {
		t.Fatal(err)
	}
	// The stale delta is not applied to the new base; the base itself is
	// current and read.
	checkFromFile(t, path)
	// A writer that never loads every state (killed, or ctm statusline)
	// moves the table on: neither file is current any more, and the
	// states come from the table.
	s, err := Open(t.Context(), path, storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(t.Context(), usage.Batch{Files: someStates(2, 30_000)}); err != nil {
		t.Fatal(err)
	}
	s.writer.Close()
	s.reader.Close()
	r := mustOpen(t, path)
	if got, err := r.FileStates(t.Context()); err != nil || !maps.Equal(got, tableStates(t, r)) || r.files.saved == r.files.gen {
		t.Fatalf("FileStates() after an unsaved writer = %d states, %v (from the files: %v); want the table's", len(got), err, r.files.saved == r.files.gen)
	}
}
