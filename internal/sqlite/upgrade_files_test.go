package sqlite

import (
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestDatabaseOfPreviousReleaseMigrates: the file states of a
// first-release database survive the upgrade, set to be read again, and
// the fingerprint column is in use.
func TestDatabaseOfPreviousReleaseMigrates(t *testing.T) {
	path := tempPath(t)
	mtime := time.Date(2026, 3, 2, 15, 4, 5, 123456789, time.UTC)
	previousRelease(t, path,
		`INSERT INTO files (path, device, inode, size, mtime, "offset", bad_lines) VALUES
			('/c/projects/-p/s1.jsonl', 7, -3, 5000, `+itoa(mtime.UnixNano())+`, 4990, 2)`,
		`INSERT INTO records (key, message_id, request_id, ts, model, session_id, project, cwd, git_branch, version,
			is_sidechain, service_tier, speed, user, machine, input, output, cache_creation_5m, cache_creation_1h,
			cache_read, web_search_requests) VALUES ('m1:r1', 'm1', 'r1', `+itoa(mtime.UnixMilli())+`, 'claude-opus-4-6',
			's1', '/p', '/p', '', '', 0, '', '', '', '', 1, 2, 3, 4, 5, 0)`)

	s := mustOpen(t, path)
	files, err := s.FileStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Migration 0104 sets every file to be read again from its start (the
	// records gain fields the first release did not keep); the device and
	// inode stay.
	want := usage.FileState{Path: "/c/projects/-p/s1.jsonl", Device: 7, Inode: 1<<64 - 3}
	got := files[want.Path]
	if len(files) != 1 || !got.ModTime.IsZero() {
		t.Fatalf("file states after the upgrade = %+v, want %+v", files, want)
	}
	if got != want {
		t.Errorf("file state after the upgrade = %+v, want %+v (fingerprint unknown)", got, want)
	}
	recs, err := s.Records(t.Context(), usage.Filter{}, usage.Page{})
	if err != nil || len(recs) != 1 || recs[0].Key != "m1:r1" || recs[0].Output != 2 {
		t.Errorf("records after the upgrade = %+v, %v; want the one stored", recs, err)
	}
	// The new column is in use: a fingerprint round-trips.
	got.Fingerprint = 1<<63 + 9
	if err := s.Apply(t.Context(), usage.Batch{Files: []usage.FileState{got}}); err != nil {
		t.Fatal(err)
	}
	if files, err = s.FileStates(t.Context()); err != nil || files[want.Path].Fingerprint != got.Fingerprint {
		t.Errorf("fingerprint after Apply = %d, %v; want %d", files[want.Path].Fingerprint, err, got.Fingerprint)
	}
}
