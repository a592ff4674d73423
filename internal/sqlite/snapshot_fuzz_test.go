package sqlite

import (
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sidefile"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// fuzzState is a small rollup copy of a few quarter hours, models and
// sessions, to seed FuzzSnapshotDecode with well-formed files.
func fuzzState(n int) *mirrorState {
	st := &mirrorState{gen: 7, dict: dictionary{ids: map[string]int32{}}}
	id := func(s string) int32 { return st.dict.id([]byte(s)) }
	for i := range n {
		qh := int64(1_900_000 + i/3)
		r := mirrorRow{qh: qh, session: id([]string{"s1", "s2"}[i%2]), project: id("/p"),
			user: id(""), model: id([]string{"m-a", "m-b", "m-c"}[i%3]), cost: usage.Money(1000 * int64(i+1)),
			entries: int64(i%4 + 1), first: qh*quarterHourMS + int64(i), last: qh*quarterHourMS + int64(i) + 100}
		r.Input, r.Output, r.CacheRead = int64(i), int64(2*i), int64(300*i)
		st.rows = append(st.rows, r)
	}
	return st
}

var fuzzInstance = []byte("fuzz-instance")

// FuzzSnapshotDecode feeds bodies sealed with a correct header and CRC to
// decodeSnapshot and, when they decode, to the lazy decoders and the
// aggregation that reads them. Nothing may panic or allocate far beyond
// the file, and no name may get two ids (a filter by name would miss
// rows). A file that passes its CRC is otherwise trusted, as the database
// beside it is: its sums are not checked against its rows.
func FuzzSnapshotDecode(f *testing.F) {
	for _, n := range []int{0, 1, 5, 17} {
		b := encodeSnapshot(fuzzState(n), fuzzInstance)
		head := snapshotHeader(7, fuzzInstance)
		f.Add(b[len(head) : len(b)-4])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		file := sidefile.Seal(append(snapshotHeader(7, fuzzInstance), body...))
		st, err := decodeSnapshot(file, fuzzInstance, 7)
		if err != nil {
			return
		}
		if len(st.dict.ids) != len(st.dict.names) {
			t.Errorf("dictionary of %d names has %d distinct: a filter by name misses rows", len(st.dict.names), len(st.dict.ids))
		}
		rows, rerr := st.allRows()
		quarters, qerr := st.getQuarters()
		names := st.dict.names
		label := func(t time.Time) string { return t.UTC().Format("2006-01-02") }
		if qerr == nil {
			quarterBuckets(quarters, idFilter{-1, -1, -1, -1}, names, 0, label)
		}
		if rerr == nil {
			acc := newAccumulator(usage.BySession, newOverlay(&st.dict))
			for i := range rows {
				acc.add(&rows[i])
			}
			acc.buckets()
			for i := 1; i < len(rows); i++ {
				if rows[i].qh < rows[i-1].qh {
					t.Fatalf("rows out of qh order at %d", i)
				}
			}
		}
		// A decoded copy is saved again as it is after a patch.
		if again := encodeSnapshot(st, fuzzInstance); again == nil {
			t.Error("a decoded copy does not encode")
		}
	})
}
