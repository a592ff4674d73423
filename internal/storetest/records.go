package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

func testRecordsRoundTrip(t *testing.T, s usage.Store) {
	full := usage.Record{
		Key:         usage.RecordKey("msg_01ABC", "req_01XYZ", "uuid-1"),
		MessageID:   "msg_01ABC",
		RequestID:   "req_01XYZ",
		Timestamp:   time.Date(2026, 3, 2, 18, 4, 5, 678_000_000, time.FixedZone("JST", 9*3600)),
		Model:       opus,
		SessionID:   "2dc8d579-5131-4469-b014-e4f41d7ce7dc",
		Project:     "/Users/ann/dev/ctm",
		CWD:         "/Users/ann/dev/ctm/internal",
		GitBranch:   "feature/ü-ñ 'quoted' \"branch\"",
		Version:     "2.1.50",
		IsSidechain: true,
		ServiceTier: "standard",
		Speed:       "fast",
		User:        "ann@example.com",
		Machine:     "ann-laptop",
		Agent:       "code-reviewer",
		Attribution: "skill:deep-research",
		Tokens: usage.Tokens{Input: 1, Output: 2, CacheCreation5m: 3, CacheCreation1h: 4,
			CacheRead: 5, WebSearchRequests: 6},
	}
	plain := rec("line:uuid-2", time.Hour, sonnet, "s2", "/p/b", usage.Tokens{Output: 1 << 40})
	plain.MessageID, plain.RequestID = "", ""
	apply(t, s, usage.Batch{Records: []usage.Record{plain, full}})
	want := []usage.Record{full, plain} // full is 08:04 UTC, plain 11:00 UTC
	if got := allRecords(t, s); !sameRecords(got, want) {
		t.Errorf("Records() =\n%+v\nwant\n%+v", got, want)
	}
}

func testRecordsPaging(t *testing.T, s usage.Store) {
	var rs []usage.Record
	for i, d := range []time.Duration{40, 10, 30, 0, 20} {
		rs = append(rs, rec(string(rune('a'+i)), d*time.Minute, opus, "s1", "/p/a", usage.Tokens{Output: int64(i)}))
	}
	apply(t, s, usage.Batch{Records: rs[:2]})
	apply(t, s, usage.Batch{Records: rs[2:]})
	byTime := []string{"d", "b", "e", "c", "a"}
	for _, tc := range []struct {
		name string
		f    usage.Filter
		p    usage.Page
		want []string
	}{
		{"All", usage.Filter{}, usage.Page{}, byTime},
		{"FirstPage", usage.Filter{}, usage.Page{Limit: 2}, byTime[:2]},
		{"MiddlePage", usage.Filter{}, usage.Page{Limit: 2, Offset: 2}, byTime[2:4]},
		{"LastPartialPage", usage.Filter{}, usage.Page{Limit: 2, Offset: 4}, byTime[4:]},
		{"OffsetOnly", usage.Filter{}, usage.Page{Offset: 3}, byTime[3:]},
		{"PastTheEnd", usage.Filter{}, usage.Page{Limit: 2, Offset: 5}, []string{}},
		{"FilteredPage", usage.Filter{Since: at(10 * time.Minute)}, usage.Page{Limit: 2, Offset: 1}, []string{"e", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Records(t.Context(), tc.f, tc.p)
			if err != nil {
				t.Fatalf("Records(%+v, %+v) = %v", tc.f, tc.p, err)
			}
			if k := keys(got); !slices.Equal(k, tc.want) {
				t.Errorf("Records(%+v, %+v) keys = %v, want %v", tc.f, tc.p, k, tc.want)
			}
		})
	}
	for _, p := range []usage.Page{{Limit: -1}, {Offset: -1}} {
		_, err := s.Records(t.Context(), usage.Filter{}, p)
		wantCode(t, "Records with a negative page", err, usage.EINVALID)
	}
}

// filterRef returns the keys of the records that pass f, sorted.
func filterRef(rs []usage.Record, f usage.Filter) []string {
	var out []string
	for i := range rs {
		if f.Contains(&rs[i]) {
			out = append(out, rs[i].Key)
		}
	}
	slices.Sort(out)
	return out
}

func testRecordsFilters(t *testing.T, s usage.Store) {
	data := dataset()
	apply(t, s, usage.Batch{Records: data})
	for _, fc := range filters() {
		t.Run(fc.name, func(t *testing.T) {
			got, err := s.Records(t.Context(), fc.f, usage.Page{})
			if err != nil {
				t.Fatalf("Records(%+v) = %v", fc.f, err)
			}
			if !slices.IsSortedFunc(got, func(a, b usage.Record) int { return a.Timestamp.Compare(b.Timestamp) }) {
				t.Errorf("Records(%+v) = %v, not in timestamp order", fc.f, keys(got))
			}
			k := keys(got)
			slices.Sort(k)
			if want := filterRef(data, fc.f); !slices.Equal(k, want) {
				t.Errorf("Records(%+v) keys = %v, want %v", fc.f, k, want)
			}
		})
	}
}

func testCountRecords(t *testing.T, s usage.Store) {
	if n := count(t, s, usage.Filter{}); n != 0 {
		t.Errorf("CountRecords() on an empty store = %d, want 0", n)
	}
	data := dataset()
	apply(t, s, usage.Batch{Records: data})
	for _, fc := range filters() {
		if got, want := count(t, s, fc.f), int64(len(filterRef(data, fc.f))); got != want {
			t.Errorf("CountRecords(%s %+v) = %d, want %d", fc.name, fc.f, got, want)
		}
	}
}

func testLatestTimestamp(t *testing.T, s usage.Store) {
	latest := func() time.Time {
		t.Helper()
		ts, err := s.LatestTimestamp(t.Context())
		if err != nil {
			t.Fatalf("LatestTimestamp() = %v", err)
		}
		return ts
	}
	if got := latest(); !got.IsZero() {
		t.Fatalf("LatestTimestamp() on an empty store = %v, want the zero time", got)
	}
	apply(t, s, usage.Batch{Records: dataset()})
	if got, want := latest(), at(2*time.Hour); !got.Equal(want) {
		t.Errorf("LatestTimestamp() = %v, want %v", got, want)
	}
	old := rec("old", -48*time.Hour, opus, "s9", "/p/a", usage.Tokens{Output: 1})
	apply(t, s, usage.Batch{Records: []usage.Record{old}})
	if got, want := latest(), at(2*time.Hour); !got.Equal(want) {
		t.Errorf("after an older record, LatestTimestamp() = %v, want %v", got, want)
	}
	newer := rec("new", 3*time.Hour+7*time.Millisecond, opus, "s9", "/p/a", usage.Tokens{Output: 1})
	apply(t, s, usage.Batch{Records: []usage.Record{newer}})
	if got, want := latest(), newer.Timestamp; !got.Equal(want) {
		t.Errorf("after a newer record, LatestTimestamp() = %v, want %v", got, want)
	}
}
