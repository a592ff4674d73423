package server_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

type historyJSON struct {
	Snapshots []struct {
		ID         int64     `json:"id"`
		CapturedAt time.Time `json:"captured_at"`
		agg
		Models []struct {
			Model string `json:"model"`
			agg
		} `json:"models"`
	} `json:"snapshots"`
	Pagination struct {
		Total   int64 `json:"total"`
		Limit   int   `json:"limit"`
		Offset  int   `json:"offset"`
		HasMore bool  `json:"has_more"`
	} `json:"pagination"`
}

func TestSnapshotsAndHistory(t *testing.T) {
	ctx := context.Background()
	st, err := openStore(ctx, filepath.Join(t.TempDir(), "snap.db"), fixture.records)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := newServer(t, func(o *options) {
		o.Store = st
		o.Now = func() time.Time { return now }
		o.RetentionDays = 2
	})
	// Five snapshots a day apart: 2026-03-01 .. 2026-03-05.
	for i := range 5 {
		snap, err := s.TakeSnapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.ID == 0 || snap.Entries != fixture.expected.Totals.Entries || len(snap.Models) != len(fixture.expected.Models) {
			t.Fatalf("snapshot %d = id %d, %d entries, %d models", i, snap.ID, snap.Entries, len(snap.Models))
		}
		if i < 4 {
			now = now.Add(24 * time.Hour)
		}
	}
	h := s.Handler()
	var got historyJSON
	get(t, h, "/api/v1/stats/history?start_time=2026-01-01T00:00:00Z&limit=2&offset=1", &got)
	if got.Pagination.Total != 5 || got.Pagination.Limit != 2 || got.Pagination.Offset != 1 || !got.Pagination.HasMore {
		t.Errorf("pagination = %+v, want total 5, limit 2, offset 1, more", got.Pagination)
	}
	if len(got.Snapshots) != 2 {
		t.Fatalf("snapshots = %d, want 2", len(got.Snapshots))
	}
	// Newest first: offset 1 skips 03-05.
	if d := got.Snapshots[0].CapturedAt.UTC().Format(time.DateOnly); d != "2026-03-04" {
		t.Errorf("first snapshot of page = %s, want 2026-03-04", d)
	}
	for _, sn := range got.Snapshots {
		checkFigures(t, fmt.Sprint("snapshot ", sn.ID), sn.agg, fixture.expected.Totals)
		for _, m := range sn.Models {
			checkFigures(t, m.Model, m.agg, fixture.expected.Models[m.Model])
		}
	}
	get(t, h, "/api/v1/stats/history?start_time=2026-01-01T00:00:00Z&limit=2&offset=4", &got)
	if len(got.Snapshots) != 1 || got.Pagination.HasMore {
		t.Errorf("last page = %d snapshots, more %v", len(got.Snapshots), got.Pagination.HasMore)
	}
	get(t, h, "/api/v1/stats/history?start_time=2026-03-02T00:00:00Z&end_time=2026-03-04T00:00:00Z", &got)
	if got.Pagination.Total != 2 {
		t.Errorf("window total = %d, want 2 (03-02 and 03-03)", got.Pagination.Total)
	}
	// The default window is the last 24 hours, its start included:
	// 03-04 00:00 and 03-05 00:00.
	get(t, h, "/api/v1/stats/history", &got)
	if got.Pagination.Total != 2 || got.Pagination.Limit != 100 {
		t.Errorf("default window = %+v, want 2 snapshots, limit 100", got.Pagination)
	}

	// Retention of 2 days from 03-05 keeps 03-03 onwards.
	n, err := s.PruneSnapshots(ctx)
	if err != nil || n != 2 {
		t.Fatalf("PruneSnapshots = %d, %v; want 2", n, err)
	}
	get(t, h, "/api/v1/stats/history?start_time=2000-01-01T00:00:00Z", &got)
	if got.Pagination.Total != 3 {
		t.Errorf("after prune total = %d, want 3", got.Pagination.Total)
	}
	if c, _ := st.CountRecords(ctx, usage.Filter{}); c != fixture.expected.Totals.Entries {
		t.Errorf("records after prune = %d, want %d (never pruned)", c, fixture.expected.Totals.Entries)
	}
}

func TestRunSnapshots(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := openStore(ctx, filepath.Join(t.TempDir(), "run.db"), fixture.records[:10])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := newServer(t, func(o *options) {
		o.Store = st
		o.Now = time.Now
		o.SnapshotInterval = 10 * time.Millisecond
	})
	done := make(chan struct{})
	go func() {
		s.RunSnapshots(ctx)
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, total, err := st.Snapshots(ctx, time.Time{}, time.Time{}, usage.Page{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if total >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d snapshots after 5s at a 10ms interval", total)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunSnapshots did not return after cancel")
	}

	t.Run("failures are survived", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		s := newServer(t, func(o *options) { o.Store = failingStore{st}; o.SnapshotInterval = 10 * time.Millisecond })
		s.RunSnapshots(ctx) // returns at the deadline, having logged each failure
		if _, err := s.TakeSnapshot(context.Background()); err == nil {
			t.Errorf("TakeSnapshot on a failing store succeeded")
		}
		r := do(t, s.Handler(), http.MethodGet, "/api/v1/stats/history", nil)
		wantError(t, r, http.StatusInternalServerError, "INTERNAL_ERROR")
	})
}
