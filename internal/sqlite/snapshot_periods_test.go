package sqlite

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

func TestAggregatePeriodsAfterPatchedSnapshots(t *testing.T) {
	// Each batch is applied by a new store that adopts the saved copy and
	// patches it (ctm daily after appends), with records before 1970, in
	// years 1 and 9999, and copies that move a key to another quarter
	// hour; every calendar report of the patched copy, of the file it
	// saved and of a copy kept across patches (ctm serve) must be SQL's.
	path := tempPath(t)
	sql := mustOpen(t, path)
	sql.noMirror = true
	live := mustOpen(t, path)
	bases := []time.Time{
		time.Date(1969, 12, 31, 23, 40, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 20, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC),
	}
	var records []usage.Record
	for i := range 800 {
		h := mix(uint64(i) + 3)
		base := bases[h%4]
		records = append(records, usage.Record{
			Key:       fmt.Sprintf("msg_%03d", h%300),
			Timestamp: base.Add(time.Duration(h%(3*3600)) * time.Second).Add(time.Duration(h%1000) * time.Millisecond),
			Model:     []string{"claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5"}[h%3],
			SessionID: fmt.Sprintf("s%d", h%5),
			Project:   fmt.Sprintf("/p/%d", h%3),
			Tokens:    usage.Tokens{Input: int64(h % 1000), Output: int64(h % 40), CacheRead: int64(h % 250000)},
		})
	}
	if err := live.Apply(t.Context(), usage.Batch{Records: records[:50]}); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Aggregate(t.Context(), usage.Filter{}, usage.ByNothing); err != nil {
		t.Fatal(err)
	}
	compare := func(s *Store, what string) {
		t.Helper()
		for _, zone := range []string{"Pacific/Chatham", "Asia/Kathmandu", "America/New_York"} {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Skip(err)
			}
			for _, p := range []usage.Period{usage.Day, usage.Week, usage.Month} {
				for _, f := range []usage.Filter{{}, {Model: "claude-opus-4-6"}, {Project: "/p/1"},
					{Since: bases[3].Add(17 * time.Minute), Until: bases[3].Add(150 * time.Minute)}} {
					quarters, err := sql.Aggregate(t.Context(), f, usage.ByQuarterHour)
					if err != nil {
						t.Fatal(err)
					}
					want := usage.Rollup(quarters, storetest.Prices, p.KeyFunc(loc))
					key := p.KeyFunc(loc)
					got, err := s.AggregatePeriods(t.Context(), f, usage.ByQuarterHour, func(t time.Time) string { return key(&usage.Bucket{Time: t}) })
					if err != nil {
						t.Fatal(err)
					}
					if rep := usage.Rollup(got, storetest.Prices, p.KeyFunc(loc)); !reflect.DeepEqual(rep, want) {
						t.Fatalf("%s, %s by %s, %+v:\n%+v\nwant\n%+v", what, zone, p, f, rep, want)
					}
				}
			}
		}
	}
	patched := 0
	for i := 50; i < len(records); i += 50 {
		next := mustOpen(t, path)
		if err := next.Apply(t.Context(), usage.Batch{Records: records[i : i+50]}); err != nil {
			t.Fatal(err)
		}
		// The live store saves at most every savePeriod, so the file may
		// be behind and the new store then loads from SQL; either way
		// the answers must be SQL's.
		if st := next.mirror.cur.Load(); st != nil && st.blocks != nil {
			patched++
		}
		compare(next, fmt.Sprintf("after %d, patched", i+50))
		compare(mustOpen(t, path), fmt.Sprintf("after %d, saved", i+50))
		// The long-lived store was passed by: it reloads.
		compare(live, fmt.Sprintf("after %d, live", i+50))
		// And patches its own appends.
		if i+75 <= len(records) {
			if err := live.Apply(t.Context(), usage.Batch{Records: records[i+25 : i+30]}); err != nil {
				t.Fatal(err)
			}
			compare(live, fmt.Sprintf("after %d, live patched", i+50))
		}
	}
	if patched == 0 {
		t.Error("no new store patched a saved copy")
	}
}
