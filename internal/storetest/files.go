package storetest

import (
	"math"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// fileStates returns the stored file states.
func fileStates(t *testing.T, s usage.Store) map[string]usage.FileState {
	t.Helper()
	got, err := s.FileStates(t.Context())
	if err != nil {
		t.Fatalf("FileStates() = %v, want nil", err)
	}
	return got
}

// sameFile compares file states, times by instant.
func sameFile(a, b usage.FileState) bool {
	if !a.ModTime.Equal(b.ModTime) {
		return false
	}
	a.ModTime, b.ModTime = time.Time{}, time.Time{}
	return a == b
}

func testFileStatesRoundTrip(t *testing.T, s usage.Store) {
	if got := fileStates(t, s); len(got) != 0 {
		t.Fatalf("FileStates() on an empty store = %+v, want none", got)
	}
	// The ingester compares device, inode and mtime for equality, so they
	// must come back exactly: full-range uint64s and nanosecond mtimes.
	kathmandu := time.FixedZone("NPT", 5*3600+45*60)
	a := usage.FileState{
		Path:     "/home/u/.claude/projects/-p-a/s1.jsonl",
		Device:   math.MaxUint64,
		Inode:    1<<63 + 5,
		Size:     123456,
		ModTime:  time.Date(2026, 3, 2, 15, 4, 5, 123456789, kathmandu),
		Offset:   120000,
		BadLines: 2,
		// Full range too, bit for bit.
		Fingerprint: 1<<63 + 11,
	}
	b := usage.FileState{Path: "/home/u/.claude/projects/-p-b/s2.jsonl", Device: 1, Inode: 2, Size: 10, Offset: 10}
	apply(t, s, usage.Batch{Files: []usage.FileState{a, b}})
	got := fileStates(t, s)
	if len(got) != 2 || !sameFile(got[a.Path], a) || !sameFile(got[b.Path], b) {
		t.Fatalf("FileStates() = %+v, want %+v and %+v", got, a, b)
	}
	if !got[b.Path].ModTime.IsZero() {
		t.Errorf("zero ModTime came back as %v, want the zero time", got[b.Path].ModTime)
	}
	if got[b.Path].Fingerprint != 0 {
		t.Errorf("unknown fingerprint came back as %d, want 0", got[b.Path].Fingerprint)
	}

	a2 := a
	a2.Size, a2.Offset, a2.BadLines, a2.ModTime = 200000, 199999, 3, a.ModTime.Add(time.Minute)
	a2.Fingerprint = 42
	apply(t, s, usage.Batch{Files: []usage.FileState{a2}})
	got = fileStates(t, s)
	if len(got) != 2 || !sameFile(got[a.Path], a2) || !sameFile(got[b.Path], b) {
		t.Errorf("after updating %s, FileStates() = %+v, want %+v and unchanged %+v", a.Path, got, a2, b)
	}
}

func testFileStatesAtomic(t *testing.T, s usage.Store) {
	good := rec("msg_1", 0, "claude-opus-4-6", "s1", "/p/a", usage.Tokens{Output: 5})
	f := usage.FileState{Path: "/t/s1.jsonl", Size: 50, Offset: 50}
	apply(t, s, usage.Batch{Records: []usage.Record{good}, Files: []usage.FileState{f}})

	// A failing batch: valid records and a file offset past them, then an
	// invalid record. None of it may stay, or the next run would skip the
	// lines behind the offset.
	newer := rec("msg_2", time.Minute, "claude-opus-4-6", "s1", "/p/a", usage.Tokens{Output: 6})
	better := good
	better.Output = 500
	bad := rec("", 2*time.Minute, "claude-opus-4-6", "s1", "/p/a", usage.Tokens{Output: 7})
	moved := f
	moved.Size, moved.Offset = 150, 150
	other := usage.FileState{Path: "/t/s2.jsonl", Size: 9, Offset: 9}
	for _, tc := range []struct {
		name string
		b    usage.Batch
	}{
		{"InvalidRecord", usage.Batch{
			Records: []usage.Record{newer, better, bad},
			Files:   []usage.FileState{moved, other},
		}},
		{"FileWithoutPath", usage.Batch{
			Records: []usage.Record{newer, better},
			Files:   []usage.FileState{moved, other, {Size: 1}},
		}},
	} {
		err := s.Apply(t.Context(), tc.b)
		wantCode(t, "Apply("+tc.name+")", err, usage.EINVALID)
	}
	if got := allRecords(t, s); !sameRecords(got, []usage.Record{good}) {
		t.Errorf("after a failed batch, Records() = %+v, want only %+v", got, good)
	}
	got := fileStates(t, s)
	if len(got) != 1 || !sameFile(got[f.Path], f) {
		t.Errorf("after a failed batch, FileStates() = %+v, want only %+v", got, f)
	}
}
