package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestReportCollectorPace(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOGC or GOMEMLIMIT is set: ctm leaves the collector alone")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	for _, args := range [][]string{{"daily", "--json"}, {"session"}} {
		if !lazyCommand(args) {
			t.Errorf("ctm %v does not run with the lazy collector", args)
		}
	}
	for _, args := range [][]string{{"serve"}, {"statusline"}, {}, {"--version"}} {
		if lazyCommand(args) {
			t.Errorf("ctm %v runs with the lazy collector", args)
		}
	}
	// lazy checks that the collector is off below the report's limit,
	// and sets the usual pace and no limit again.
	lazy := func(when string) {
		t.Helper()
		if p, l := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64); p != -1 || l != lazyHeap {
			t.Errorf("GC percent and memory limit %s = %d, %d; want off (-1) and %d", when, p, l, lazyHeap)
		}
	}
	root := t.TempDir()
	path := filepath.Join(root, "projects", "-work-app", "s1.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	line := `{"type":"assistant","sessionId":"s1","cwd":"/work/app","timestamp":"2026-02-01T10:00:00.000Z","requestId":"req_1","uuid":"u1",` +
		`"message":{"id":"msg_1","model":"claude-opus-4-6","role":"assistant","usage":{"input_tokens":1,"output_tokens":2}}}` + "\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	env, _, _ := testEnv(t, root)
	lazyGC() // as main does for a report
	ctm(t, env, "daily", "--json")
	lazy("after a small report")
	// A catch-up larger than largeCatchUp (here, any) collects at the
	// usual pace while it runs, under its own cap rather than the
	// report's limit, then gives the report its lazy collector back.
	defer func(old int64) { largeCatchUp = old }(largeCatchUp)
	largeCatchUp = 0
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(line)
	f.Close()
	lazyGC()
	ctm(t, env, "daily", "--json")
	lazy("after a large catch-up")
}
