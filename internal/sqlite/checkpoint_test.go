package sqlite

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestCheckpointThresholdFollowsBatchSize checks that a large batch
// defers WAL checkpoints and a small one restores the default, and that
// the records of both are stored whatever the threshold.
func TestCheckpointThresholdFollowsBatchSize(t *testing.T) {
	ctx := context.Background()
	path := tempPath(t)
	s := mustOpen(t, path)
	threshold := func() int {
		t.Helper()
		var n int
		if err := s.writer.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := threshold(); got != defaultCheckpointPages {
		t.Fatalf("threshold after Open = %d, want %d", got, defaultCheckpointPages)
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		name    string
		records int
		want    int
	}{
		{"large batch", maxDeltaRecords + 1, bulkCheckpointPages},
		{"second large batch", 5000, bulkCheckpointPages},
		{"small batch", 10, defaultCheckpointPages},
		{"files only", 0, defaultCheckpointPages},
		{"large again", 2000, bulkCheckpointPages},
	}
	var total int64
	for i, st := range steps {
		b := usage.Batch{
			Records: testRecords(st.records, start.Add(time.Duration(i)*24*time.Hour), st.name),
			Files:   []usage.FileState{{Path: "/p/" + st.name, Size: 1, Offset: 1}},
		}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatalf("%s: Apply() = %v", st.name, err)
		}
		total += int64(st.records)
		if got := threshold(); got != st.want {
			t.Errorf("%s: threshold = %d, want %d", st.name, got, st.want)
		}
		n, err := s.CountRecords(ctx, usage.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if n != total {
			t.Errorf("%s: CountRecords() = %d, want %d", st.name, n, total)
		}
	}
}

// TestRecordsIndexes checks the indexes on records after all migrations:
// those that queries use, and not the project and model ones that 0102
// dropped because every insert paid for them. Key uniqueness is a named
// index since 0108, so that a first index can build it once (bulk.go).
// Since 0111 the rows live in record_rows, behind the view records.
func TestRecordsIndexes(t *testing.T) {
	s := mustOpen(t, tempPath(t))
	rows, err := s.reader.Query(`SELECT name FROM sqlite_schema
		WHERE type = 'index' AND tbl_name = 'record_rows' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	want := []string{"records_key_hash", "records_session", "records_ts"}
	if !slices.Equal(got, want) {
		t.Errorf("records indexes = %v, want %v", got, want)
	}
}

func TestMergeCopies(t *testing.T) {
	at := func(s int) time.Time { return day.Add(time.Duration(s) * time.Second) }
	rec := func(key string, output int64, s int) usage.Record {
		return usage.Record{Key: key, Timestamp: at(s), Tokens: usage.Tokens{Output: output}}
	}
	tests := []struct {
		name string
		in   []usage.Record
		want []usage.Record
	}{
		{"distinct", []usage.Record{rec("a", 1, 0), rec("b", 1, 0)}, []usage.Record{rec("a", 1, 0), rec("b", 1, 0)}},
		{"more output wins", []usage.Record{rec("a", 1, 0), rec("b", 1, 0), rec("a", 5, 9)},
			[]usage.Record{rec("a", 5, 9), rec("b", 1, 0)}},
		{"less output loses", []usage.Record{rec("a", 5, 0), rec("a", 1, 0), rec("c", 2, 0)},
			[]usage.Record{rec("a", 5, 0), rec("c", 2, 0)}},
		{"earlier wins a tie", []usage.Record{rec("a", 3, 9), rec("a", 3, 2), rec("a", 3, 5)},
			[]usage.Record{rec("a", 3, 2)}},
		{"first of equals kept", []usage.Record{rec("b", 3, 2), rec("a", 1, 0), rec("b", 3, 2)},
			[]usage.Record{rec("b", 3, 2), rec("a", 1, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			got := mergeCopies(in)
			if !slices.EqualFunc(got, tt.want, func(x, y usage.Record) bool {
				return x.Key == y.Key && x.Output == y.Output && x.Timestamp.Equal(y.Timestamp)
			}) {
				t.Errorf("mergeCopies() = %v, want %v", got, tt.want)
			}
			if !slices.EqualFunc(in, tt.in, func(x, y usage.Record) bool { return x == y }) {
				t.Errorf("mergeCopies changed its input to %v", in)
			}
		})
	}
}

func TestCheckpointCopiesTheLog(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	if err := s.Apply(t.Context(), usage.Batch{Records: testRecords(200, day, "ck")}); err != nil {
		t.Fatal(err)
	}
	// A reader holds a snapshot meanwhile: a passive checkpoint still
	// copies every frame it can see into the database file, which grows.
	tx, err := s.reader.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM records`).Scan(&n); err != nil || n != 200 {
		t.Fatalf("records = %d, %v", n, err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() <= before.Size() {
		t.Errorf("database file %d bytes before Checkpoint and %d after, want it to grow by the logged pages", before.Size(), after.Size())
	}
}
