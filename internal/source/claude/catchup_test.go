package claude_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/source/claude"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// line is an assistant line of Claude Code with one usage record.
func line(id string, output int) string {
	return fmt.Sprintf(`{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/work/app","sessionId":"s1",`+
		`"version":"2.1.50","gitBranch":"main","type":"assistant","uuid":"u-%[1]s","timestamp":"2026-02-01T10:00:00.000Z",`+
		`"requestId":"req_%[1]s","message":{"model":"claude-opus-4-6","id":"msg_%[1]s","type":"message","role":"assistant",`+
		`"content":[{"type":"text","text":"x"}],"usage":{"input_tokens":10,"output_tokens":%[2]d,`+
		`"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}`+"\n", id, output)
}

// catchUp runs one report process's catch-up: open the store, ingest,
// read every record, close. cached selects the saved file states and the
// listing cache; without them the store reads its table, and the side
// files are removed so that the next run cannot use them either.
func catchUp(t *testing.T, root, db string, cached bool) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	opts := ingest.Options{}
	if cached {
		opts.ListingCache = db + "-dirs"
	}
	if _, err := ingest.New(st, []string{root}, nil, opts).Run(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := st.Records(ctx, usage.Filter{}, usage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if !cached {
		os.Remove(db + "-files")
	}
	out := map[string]int64{}
	for _, r := range rs {
		out[r.Key] = r.Output
	}
	return out
}

func TestCatchUpWithSavedStatesAndListings(t *testing.T) {
	// Each step changes the tree, then one process catches up with the
	// saved file states and listing cache and another without: both must
	// store the same records. The clock is moved so that every listing is
	// old enough to be reused (see racyMargin), and each step first waits
	// a tick of the file system's clock, so that only a bug can hide a
	// change.
	claude.ShiftClock(t, time.Hour)
	root := t.TempDir()
	dir := t.TempDir()
	cached, plain := filepath.Join(dir, "cached.db"), filepath.Join(dir, "plain.db")
	project := filepath.Join(claude.ProjectsDir(root), "-work-app")
	path := func(rel string) string { return filepath.Join(project, rel) }
	write := func(rel, content string) {
		if err := os.MkdirAll(filepath.Dir(path(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path(rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	appendTo := func(rel, content string) {
		f, err := os.OpenFile(path(rel), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(content); err != nil {
			t.Fatal(err)
		}
	}
	write("s1.jsonl", line("a", 1)+line("b", 2))
	write("s2.jsonl", line("c", 3))
	steps := []struct {
		name   string
		change func()
	}{
		{"unchanged", func() {}},
		{"append", func() { appendTo("s1.jsonl", line("d", 4)) }},
		{"rewrite in place, same size", func() { write("s2.jsonl", line("e", 5)) }},
		{"truncate and write less", func() { write("s1.jsonl", line("f", 6)) }},
		{"rotate", func() {
			if err := os.Rename(path("s2.jsonl"), path("s2.old.jsonl")); err != nil {
				t.Fatal(err)
			}
			write("s2.jsonl", line("g", 7))
		}},
		{"new file in a known folder", func() { write("s3.jsonl", line("h", 8)) }},
		{"new subagent folder", func() { write("s3/subagents/agent-1.jsonl", line("i", 9)) }},
		{"new project folder", func() {
			p := filepath.Join(claude.ProjectsDir(root), "-work-other", "s4.jsonl")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(line("j", 10)), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"another process writes meanwhile and is killed", func() {
			// It catches up an append to both databases and never
			// closes: the saved copies of the file states are stale.
			appendTo("s3.jsonl", line("k", 11))
			for _, db := range []string{cached, plain} {
				st, err := sqlite.Open(context.Background(), db, storetest.Prices)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ingest.New(st, []string{root}, nil, ingest.Options{}).Run(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			appendTo("s3.jsonl", line("l", 12))
		}},
		{"append after it", func() { appendTo("s3/subagents/agent-1.jsonl", line("m", 13)) }},
	}
	for _, s := range steps {
		time.Sleep(30 * time.Millisecond)
		s.change()
		want := catchUp(t, root, plain, false)
		got := catchUp(t, root, cached, true)
		if !maps.Equal(got, want) {
			t.Fatalf("after %s: records with the saved states and listings = %v, without = %v", s.name, got, want)
		}
		if again := catchUp(t, root, cached, true); !maps.Equal(again, want) {
			t.Fatalf("after %s, unchanged: records = %v, want %v", s.name, again, want)
		}
	}
	// Records stay when their lines are rewritten away: all 13 of them.
	if n := len(catchUp(t, root, plain, false)); n != 13 {
		t.Errorf("%d records at the end, want 13", n)
	}
}
