package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// saveSnapshots saves one snapshot per hour from t0, each with a distinct
// total and n+1 models for the n-th, and returns them as saved.
func saveSnapshots(t *testing.T, s usage.Store, n int) []usage.Snapshot {
	t.Helper()
	var saved []usage.Snapshot
	for i := range n {
		snap := usage.Snapshot{
			Time:    at(time.Duration(i) * time.Hour),
			Totals:  usage.Tokens{Input: int64(100 * (i + 1)), Output: int64(i), CacheCreation5m: 1, CacheCreation1h: 2, CacheRead: 3, WebSearchRequests: 4},
			CostUSD: usage.Money(i+1) * usage.MoneyPerUSD * 5 / 4,
			Entries: int64(10 + i),
		}
		for j := range i + 1 {
			// Saved out of name order, to check that order is kept.
			model := []string{sonnet, opus, "claude-haiku-4-5"}[j%3]
			snap.Models = append(snap.Models, usage.SnapshotModel{
				Model:   model,
				Tokens:  usage.Tokens{Input: int64(j + 1), Output: int64(i)},
				CostUSD: usage.Money(j+1) * usage.MoneyPerUSD / 2,
				Entries: int64(j + 1),
			})
		}
		got, err := s.SaveSnapshot(t.Context(), snap)
		if err != nil {
			t.Fatalf("SaveSnapshot(%v) = %v", snap.Time, err)
		}
		if got.ID == 0 || !got.Time.Equal(snap.Time) {
			t.Fatalf("SaveSnapshot(%v) = id %d time %v, want a non-zero id and the same time", snap.Time, got.ID, got.Time)
		}
		snap.ID = got.ID
		saved = append(saved, snap)
	}
	ids := make([]int64, len(saved))
	for i, sn := range saved {
		ids[i] = sn.ID
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != n {
		t.Fatalf("SaveSnapshot ids %v are not distinct", ids)
	}
	return saved
}

// sameSnapshot compares snapshots, times by instant.
func sameSnapshot(a, b usage.Snapshot) bool {
	return a.ID == b.ID && a.Time.Equal(b.Time) && a.Totals == b.Totals && a.CostUSD == b.CostUSD &&
		a.Entries == b.Entries && slices.Equal(a.Models, b.Models)
}

// pick returns the snapshots at indexes idx of saved, in that order.
func pick(saved []usage.Snapshot, idx ...int) []usage.Snapshot {
	out := make([]usage.Snapshot, len(idx))
	for i, j := range idx {
		out[i] = saved[j]
	}
	return out
}

func testSnapshotsPage(t *testing.T, s usage.Store) {
	got, total, err := s.Snapshots(t.Context(), time.Time{}, time.Time{}, usage.Page{})
	if err != nil || len(got) != 0 || total != 0 {
		t.Fatalf("Snapshots() on an empty store = %d snapshots, total %d, %v; want none, 0, nil", len(got), total, err)
	}
	saved := saveSnapshots(t, s, 4)
	for _, tc := range []struct {
		name         string
		since, until time.Time
		p            usage.Page
		want         []usage.Snapshot
		total        int64
	}{
		{"All", time.Time{}, time.Time{}, usage.Page{}, pick(saved, 3, 2, 1, 0), 4},
		{"Page", time.Time{}, time.Time{}, usage.Page{Limit: 2, Offset: 1}, pick(saved, 2, 1), 4},
		{"PastTheEnd", time.Time{}, time.Time{}, usage.Page{Limit: 2, Offset: 4}, nil, 4},
		{"Since", at(2 * time.Hour), time.Time{}, usage.Page{}, pick(saved, 3, 2), 2},
		{"Until", time.Time{}, at(2 * time.Hour), usage.Page{}, pick(saved, 1, 0), 2},
		{"Both", at(time.Hour), at(3 * time.Hour), usage.Page{Limit: 1}, pick(saved, 2), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.Snapshots(t.Context(), tc.since, tc.until, tc.p)
			if err != nil {
				t.Fatalf("Snapshots(%v, %v, %+v) = %v", tc.since, tc.until, tc.p, err)
			}
			if total != tc.total {
				t.Errorf("Snapshots(%v, %v, %+v) total = %d, want %d", tc.since, tc.until, tc.p, total, tc.total)
			}
			if !slices.EqualFunc(got, tc.want, sameSnapshot) {
				t.Errorf("Snapshots(%v, %v, %+v) =\n%+v\nwant\n%+v", tc.since, tc.until, tc.p, got, tc.want)
			}
		})
	}
	_, _, err = s.Snapshots(t.Context(), time.Time{}, time.Time{}, usage.Page{Limit: -1})
	wantCode(t, "Snapshots with a negative limit", err, usage.EINVALID)
}

func testSnapshotsPrune(t *testing.T, s usage.Store) {
	saved := saveSnapshots(t, s, 4)
	prune := func(before time.Time) int64 {
		t.Helper()
		n, err := s.PruneSnapshots(t.Context(), before)
		if err != nil {
			t.Fatalf("PruneSnapshots(%v) = %v", before, err)
		}
		return n
	}
	if n := prune(at(2 * time.Hour)); n != 2 {
		t.Errorf("PruneSnapshots(t0+2h) = %d, want 2", n)
	}
	got, total, err := s.Snapshots(t.Context(), time.Time{}, time.Time{}, usage.Page{})
	if err != nil {
		t.Fatalf("Snapshots() = %v", err)
	}
	if want := pick(saved, 3, 2); total != 2 || !slices.EqualFunc(got, want, sameSnapshot) {
		t.Errorf("after pruning, Snapshots() = %+v (total %d), want %+v (total 2)", got, total, want)
	}
	if n := prune(at(2 * time.Hour)); n != 0 {
		t.Errorf("PruneSnapshots(t0+2h) again = %d, want 0", n)
	}
	// Records are never pruned with snapshots.
	apply(t, s, usage.Batch{Records: []usage.Record{rec("r", -time.Hour, opus, "s", "/p", usage.Tokens{Output: 1})}})
	if n := prune(at(10 * time.Hour)); n != 2 {
		t.Errorf("PruneSnapshots(t0+10h) = %d, want 2", n)
	}
	if n := count(t, s, usage.Filter{}); n != 1 {
		t.Errorf("after pruning snapshots, CountRecords() = %d, want 1", n)
	}
}

func testClose(t *testing.T, s usage.Store) {
	apply(t, s, usage.Batch{Records: []usage.Record{rec("c", 0, opus, "s", "/p", usage.Tokens{Output: 1})}})
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	// A closed store fails cleanly instead of panicking or hanging.
	if _, err := s.CountRecords(t.Context(), usage.Filter{}); err == nil {
		t.Errorf("CountRecords() after Close = nil error, want an error")
	}
	if err := s.Apply(t.Context(), usage.Batch{Records: []usage.Record{rec("d", 0, opus, "s", "/p", usage.Tokens{})}}); err == nil {
		t.Errorf("Apply() after Close = nil error, want an error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
}
