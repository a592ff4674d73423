package sqlite

import (
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestPartialFileStatesMigrate: a state that an earlier release stored
// from the middle of a file, with the file's whole size, claims after the
// upgrade only what was read, so that the next catch-up reads the rest; a
// state of a file read to its end keeps its size.
func TestPartialFileStatesMigrate(t *testing.T) {
	path := tempPath(t)
	mtime := time.Date(2026, 11, 2, 15, 4, 5, 0, time.UTC).UnixNano()
	migratedBefore(t, path, "migrations/0113",
		`INSERT INTO files (path, device, inode, size, mtime, "offset", bad_lines, fingerprint) VALUES
			('/c/projects/-p/half.jsonl', 1, 2, 9000, `+itoa(mtime)+`, 4000, 0, 77),
			('/c/projects/-p/whole.jsonl', 1, 3, 5000, `+itoa(mtime)+`, 5000, 1, 78)`)

	s := mustOpen(t, path)
	files, err := s.FileStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(0, mtime)
	want := map[string]usage.FileState{
		"/c/projects/-p/half.jsonl":  {Path: "/c/projects/-p/half.jsonl", Device: 1, Inode: 2, Size: 4000, ModTime: at, Offset: 4000, Fingerprint: 77},
		"/c/projects/-p/whole.jsonl": {Path: "/c/projects/-p/whole.jsonl", Device: 1, Inode: 3, Size: 5000, ModTime: at, Offset: 5000, BadLines: 1, Fingerprint: 78},
	}
	if len(files) != len(want) {
		t.Fatalf("file states after the upgrade = %+v, want %+v", files, want)
	}
	for p, w := range want {
		if g := files[p]; !g.ModTime.Equal(w.ModTime) || func() bool { g.ModTime = w.ModTime; return g != w }() {
			t.Errorf("state of %s after the upgrade = %+v, want %+v", p, files[p], w)
		}
	}
}
