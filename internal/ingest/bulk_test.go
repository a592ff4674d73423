package ingest

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestBulkFirstIndexSQLite indexes the real corpus into an empty SQLite
// store as a bulk run (one transaction, see sqlite.Bulk) and checks the
// figures of claude-real.expected.json, then that a second run finds
// nothing new and an incremental run after it still upserts.
func TestBulkFirstIndexSQLite(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(sharedTestdata(t), "claude-real")
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ctm.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in := New(st, []string{root}, nil, Options{})
	in.bulkBytes = 0 // every run is a bulk one
	res, err := in.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesChanged != 25 || res.Written == 0 {
		t.Errorf("bulk Run = %+v, want 25 files changed", res)
	}
	check := func() {
		t.Helper()
		rs, err := st.Records(ctx, usage.Filter{}, usage.Page{})
		if err != nil {
			t.Fatal(err)
		}
		sink := newRefSink()
		for _, r := range rs {
			sink.records[r.Key] = r
		}
		compareReports(t, sink.report(), loadExpected(t))
	}
	check()
	res, err = New(st, []string{root}, nil, Options{}).Run(ctx)
	if err != nil || res.FilesChanged != 0 || res.Records != 0 {
		t.Errorf("second Run = %+v, %v; want nothing read", res, err)
	}
	check()
}

// bulkRefSink is a refSink that takes bulk writes: batches are kept
// aside and stored at Commit, or dropped at Rollback.
type bulkRefSink struct {
	*refSink
	begun, commits, rollbacks int
}

type bulkRefWriter struct {
	s       *bulkRefSink
	batches []usage.Batch
}

func (s *bulkRefSink) BeginBulk(context.Context) (usage.BulkWriter, error) {
	s.begun++
	if len(s.records) > 0 {
		return nil, nil
	}
	return &bulkRefWriter{s: s}, nil
}

func (w *bulkRefWriter) Apply(_ context.Context, b usage.Batch) error {
	w.s.applies++
	if w.s.failAfter > 0 && w.s.applies == w.s.failAfter {
		return context.DeadlineExceeded
	}
	c := usage.Batch{Records: append([]usage.Record(nil), b.Records...),
		Prompts: append([]usage.Prompt(nil), b.Prompts...), Files: append([]usage.FileState(nil), b.Files...)}
	w.batches = append(w.batches, c)
	return nil
}

func (w *bulkRefWriter) Commit(ctx context.Context) error {
	w.s.commits++
	for _, b := range w.batches {
		w.s.applies-- // refSink.Apply counts again
		if err := w.s.refSink.Apply(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func (w *bulkRefWriter) Rollback() error { w.s.rollbacks++; return nil }

// TestBulkRunFailsWhole: a bulk run whose write fails stores nothing and
// forgets the file states it read, so the next run reads every file
// again and gets the same figures as a clean run.
func TestBulkRunFailsWhole(t *testing.T) {
	root := filepath.Join(sharedTestdata(t), "claude-real")
	sink := &bulkRefSink{refSink: newRefSink()}
	sink.failAfter = 2
	in := New(sink, []string{root}, nil, Options{BatchRecords: 100})
	in.bulkBytes = 0
	if _, err := in.Run(context.Background()); err == nil {
		t.Fatal("Run with a failing bulk write = nil error")
	}
	if sink.rollbacks != 1 || sink.commits != 0 || len(sink.records) != 0 || len(sink.files) != 0 {
		t.Fatalf("after a failed bulk run: %d rollbacks, %d commits, %d records, %d files; want 1, 0, 0, 0",
			sink.rollbacks, sink.commits, len(sink.records), len(sink.files))
	}
	sink.failAfter = 0
	res, err := in.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesChanged != 25 || sink.commits != 1 {
		t.Errorf("second Run = %+v with %d commits, want 25 files and 1 commit", res, sink.commits)
	}
	compareReports(t, sink.report(), loadExpected(t))
}

// TestIngestFilesLoadsOnlyItsStates: IngestFiles without cached states
// (as `ctm statusline` runs it) loads the states of its own paths only,
// reads nothing of an unchanged file, catches up a grown one, and keeps
// no partial cache that would make other files look new.
func TestIngestFilesLoadsOnlyItsStates(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := filepath.Join(sharedTestdata(t), "claude-real")
	if err := os.CopyFS(root, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ctm.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := New(st, []string{root}, nil, Options{}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	var one string
	filepath.WalkDir(filepath.Join(root, "projects"), func(p string, d fs.DirEntry, err error) error {
		if one == "" && err == nil && !d.IsDir() && strings.HasSuffix(p, ".jsonl") {
			one = p
		}
		return nil
	})
	in := New(st, []string{root}, nil, Options{})
	res, err := in.IngestFiles(ctx, []string{one})
	if err != nil || res.FilesScanned != 1 || res.BytesRead != 0 {
		t.Errorf("IngestFiles(unchanged) = %+v, %v; want 1 file scanned, nothing read", res, err)
	}
	if in.states != nil {
		t.Error("IngestFiles kept a partial cache of file states")
	}
	// A grown file is caught up from where it was.
	line := `{"type":"assistant","sessionId":"s-grow","cwd":"/p","timestamp":"2026-03-01T10:00:00Z","requestId":"req_grow","message":{"id":"msg_grow","model":"claude-opus-4-6","usage":{"input_tokens":1,"output_tokens":2}}}` + "\n"
	f, err := os.OpenFile(one, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(line)
	f.Close()
	res, err = in.IngestFiles(ctx, []string{one})
	if err != nil || res.BytesRead != int64(len(line)) || res.Records != 1 {
		t.Errorf("IngestFiles(grown) = %+v, %v; want the one appended line", res, err)
	}
	// Every other file is still known.
	res, err = in.Run(ctx)
	if err != nil || res.BytesRead != 0 {
		t.Errorf("Run after IngestFiles = %+v, %v; want nothing read", res, err)
	}
}
