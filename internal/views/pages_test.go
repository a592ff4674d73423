package views

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// racingStore stores a record earlier in the order than every page
// between the first two page reads, as a catch-up under ctm serve does.
type racingStore struct {
	usage.Store
	t     *testing.T
	calls int
}

func (s *racingStore) Records(ctx context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	s.calls++
	if s.calls == 2 {
		r := usage.Record{Key: "late", Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Model: "claude-opus-4-7",
			SessionID: "s", Project: "/p", Tokens: usage.Tokens{Output: 1}}
		if err := s.Store.Apply(ctx, usage.Batch{Records: []usage.Record{r}}); err != nil {
			s.t.Fatal(err)
		}
	}
	return s.Store.Records(ctx, f, p)
}

// TestEachRecordPagesByTime reads more records of one millisecond than a
// page holds, and more pages than one, while a record is stored before the
// cursor: every record is seen once.
func TestEachRecordPagesByTime(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	var recs []usage.Record
	for i := range 2*recordPage + 10 {
		ts := t0 // the first page and a half: one millisecond
		if i > recordPage+recordPage/2 {
			ts = t0.Add(time.Duration(i) * time.Millisecond)
		}
		recs = append(recs, usage.Record{Key: fmt.Sprintf("k%05d", i), Timestamp: ts, Model: "claude-opus-4-7",
			SessionID: "s", Project: "/p", Tokens: usage.Tokens{Output: 1}})
	}
	if err := st.Apply(ctx, usage.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	rs := &racingStore{Store: st, t: t}
	v := &Views{Store: rs, Prices: storetest.Prices}
	got := map[string]int{}
	if err := v.eachRecord(ctx, usage.Filter{}, func(r *usage.Record) { got[r.Key]++ }); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if got[r.Key] != 1 {
			t.Errorf("record %s seen %d times, want once", r.Key, got[r.Key])
		}
	}
	if len(got) != len(recs) || rs.calls < 3 {
		t.Errorf("saw %d records in %d pages, want %d records in at least 3 pages", len(got), rs.calls, len(recs))
	}
}
