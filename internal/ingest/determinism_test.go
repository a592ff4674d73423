package ingest

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/gen"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestKeptCopiesDoNotDependOnOrder indexes one generated data set (with
// resumed sessions that copy responses verbatim) with the files in reverse
// order and with different worker counts and batch sizes, which change the
// order copies meet in: every kept copy, and so every session's figures,
// must be the same.
func TestKeptCopiesDoNotDependOnOrder(t *testing.T) {
	dir := t.TempDir()
	if _, err := gen.Generate(context.Background(), gen.Config{Dir: dir, Size: 8 << 20, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	paths, err := Discover(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sessions := func(opts Options, reverse bool) map[string]usage.Tokens {
		sink := newRefSink()
		order := slices.Clone(paths)
		if reverse {
			slices.Reverse(order)
		}
		if _, err := New(sink, []string{dir}, nil, opts).IngestFiles(context.Background(), order); err != nil {
			t.Fatal(err)
		}
		out := map[string]usage.Tokens{}
		for _, r := range sink.records {
			out[r.SessionID] = out[r.SessionID].Add(r.Tokens)
		}
		return out
	}
	want := sessions(Options{Workers: 1, BatchRecords: 1 << 20}, false)
	for _, opts := range []Options{{Workers: 1, BatchRecords: 1 << 20}, {Workers: 4, BatchRecords: 7}, {Workers: 2, BatchRecords: 100, BatchFiles: 3}} {
		got := sessions(opts, true)
		for _, id := range slices.Sorted(maps.Keys(want)) {
			if got[id] != want[id] {
				t.Errorf("workers %d, batch %d: session %s = %+v, want %+v", opts.Workers, opts.BatchRecords, id, got[id], want[id])
			}
		}
		if len(got) != len(want) {
			t.Errorf("workers %d: %d sessions, want %d", opts.Workers, len(got), len(want))
		}
	}
	if len(want) == 0 {
		t.Fatalf("no sessions generated in %s", dir)
	}
}

// TestIdenticalCopiesKeptByRule writes one response into two session files
// that differ only in sessionId and ingests them in both orders: the same
// copy must be kept either way (usage.Record.Prefer orders ties).
func TestIdenticalCopiesKeptByRule(t *testing.T) {
	dir := t.TempDir()
	line := func(session string) string {
		return `{"type":"assistant","sessionId":"` + session + `","cwd":"/w","uuid":"u-` + session + `",` +
			`"timestamp":"2026-02-01T10:00:00.000Z","requestId":"req_t",` +
			`"message":{"id":"msg_t","model":"claude-opus-4-6","usage":{"input_tokens":3,"output_tokens":9}}}` + "\n"
	}
	a := writeTranscript(t, dir, "-w", "aaaa.jsonl", line("aaaa"))
	b := writeTranscript(t, dir, "-w", "bbbb.jsonl", line("bbbb"))
	for _, order := range [][]string{{a, b}, {b, a}} {
		sink := newRefSink()
		if _, err := New(sink, []string{dir}, nil, Options{Workers: 1}).IngestFiles(context.Background(), order); err != nil {
			t.Fatal(err)
		}
		if got := sink.records["msg_t:req_t"].SessionID; got != "aaaa" {
			t.Errorf("files in order %v kept the copy of session %q, want aaaa", order, got)
		}
	}
}

// writeTranscript writes content to root/projects/folder/name and returns
// its path.
func writeTranscript(t *testing.T, root, folder, name, content string) string {
	t.Helper()
	dir := filepath.Join(root, "projects", folder)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
