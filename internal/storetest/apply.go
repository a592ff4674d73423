package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

func testApplyIdempotent(t *testing.T, s usage.Store) {
	b := usage.Batch{
		Records: []usage.Record{
			rec("msg_1", 0, "claude-opus-4-6", "s1", "/p/a", usage.Tokens{Input: 10, Output: 20}),
			rec("msg_2", time.Minute, "claude-opus-4-6", "s1", "/p/a", usage.Tokens{Input: 30, Output: 40, CacheRead: 5}),
			rec("msg_3", 2*time.Minute, "claude-sonnet-4-6", "s2", "/p/b", usage.Tokens{Output: 7}),
		},
		Files: []usage.FileState{{Path: "/t/s1.jsonl", Size: 100, Offset: 100}},
	}
	apply(t, s, b)
	first := allRecords(t, s)
	apply(t, s, b)
	second := allRecords(t, s)
	if !sameRecords(first, b.Records) {
		t.Fatalf("after one Apply, Records() = %+v, want %+v", first, b.Records)
	}
	if !sameRecords(second, first) {
		t.Fatalf("after the same Apply twice, Records() = %+v, want %+v", second, first)
	}
	if n := count(t, s, usage.Filter{}); n != 3 {
		t.Errorf("CountRecords() = %d, want 3", n)
	}
	files, err := s.FileStates(t.Context())
	if err != nil {
		t.Fatalf("FileStates() = %v", err)
	}
	if len(files) != 1 || files["/t/s1.jsonl"].Offset != 100 {
		t.Errorf("FileStates() = %+v, want one state with offset 100", files)
	}
	sum := aggregate(t, s, usage.Filter{}, usage.ByNothing)
	var out int64
	for _, bk := range sum {
		out += bk.Output
	}
	if out != 67 {
		t.Errorf("total output after applying twice = %d, want 67", out)
	}
}

func testApplyEmpty(t *testing.T, s usage.Store) {
	apply(t, s, usage.Batch{})
	if n := count(t, s, usage.Filter{}); n != 0 {
		t.Errorf("CountRecords() after an empty batch = %d, want 0", n)
	}
}

// storedOne returns the only stored record.
func storedOne(t *testing.T, s usage.Store) usage.Record {
	t.Helper()
	got := allRecords(t, s)
	if len(got) != 1 {
		t.Fatalf("Records() = %v, want exactly one record", keys(got))
	}
	return normRecord(got[0])
}

func testPreferLargerOutput(t *testing.T, open func(*testing.T) usage.Store) {
	// The streamed copies of one response: the last carries the final
	// output count, and it differs from the first in other fields too, so
	// a half-done replacement shows.
	small := rec("msg_x", 0, "claude-opus-4-6", "s-first", "/p/a", usage.Tokens{Input: 5, Output: 10, CacheRead: 100})
	large := rec("msg_x", time.Second, "claude-opus-4-6", "s-last", "/p/b", usage.Tokens{Input: 5, Output: 50, CacheRead: 100})
	large.GitBranch = "main"
	for _, tc := range []struct {
		name    string
		batches [][]usage.Record
	}{
		{"SmallerFirst", [][]usage.Record{{small}, {large}}},
		{"LargerFirst", [][]usage.Record{{large}, {small}}},
		{"OneBatchSmallerFirst", [][]usage.Record{{small, large}}},
		{"OneBatchLargerFirst", [][]usage.Record{{large, small}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			for _, rs := range tc.batches {
				apply(t, s, usage.Batch{Records: rs})
			}
			if got := storedOne(t, s); got != normRecord(large) {
				t.Errorf("stored %+v, want the larger-output copy %+v", got, large)
			}
		})
	}
}

func testPreferEarlier(t *testing.T, open func(*testing.T) usage.Store) {
	early := rec("msg_y", 0, "claude-opus-4-6", "s-early", "/p/a", usage.Tokens{Input: 1, Output: 30})
	late := rec("msg_y", 5*time.Second, "claude-opus-4-6", "s-late", "/p/b", usage.Tokens{Input: 2, Output: 30})
	for _, tc := range []struct {
		name    string
		batches [][]usage.Record
	}{
		{"EarlierFirst", [][]usage.Record{{early}, {late}}},
		{"LaterFirst", [][]usage.Record{{late}, {early}}},
		{"OneBatchLaterFirst", [][]usage.Record{{late, early}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			for _, rs := range tc.batches {
				apply(t, s, usage.Batch{Records: rs})
			}
			if got := storedOne(t, s); got != normRecord(early) {
				t.Errorf("stored %+v, want the earlier copy %+v", got, early)
			}
		})
	}
}

func testPreferIdenticalCopies(t *testing.T, open func(*testing.T) usage.Store) {
	// A resumed session copies a response verbatim: same output, same
	// time, another session (and here another project). The kept copy
	// must not depend on the order the copies arrive in.
	orig := rec("msg_z", 0, "claude-opus-4-6", "s-aaa", "/p/b", usage.Tokens{Input: 1, Output: 30})
	resumed := rec("msg_z", 0, "claude-opus-4-6", "s-bbb", "/p/a", usage.Tokens{Input: 1, Output: 30})
	sameSession := rec("msg_z", 0, "claude-opus-4-6", "s-aaa", "/p/a", usage.Tokens{Input: 1, Output: 30})
	// A subagent's response is also logged, on older Claude Code, in a
	// progress line of the parent session, which knows neither its type
	// nor its attribution: the copy from its own transcript wins.
	typed, attributed := orig, orig
	typed.Agent, typed.IsSidechain = "Explore", true
	attributed.Attribution = "skill:deep-research"
	for _, tc := range []struct {
		name    string
		batches [][]usage.Record
		want    usage.Record
	}{
		{"SmallerSessionFirst", [][]usage.Record{{orig}, {resumed}}, orig},
		{"SmallerSessionLast", [][]usage.Record{{resumed}, {orig}}, orig},
		{"OneBatch", [][]usage.Record{{resumed, orig}}, orig},
		{"ThenSmallerProject", [][]usage.Record{{orig}, {sameSession}}, sameSession},
		{"ThenSmallerProjectFirst", [][]usage.Record{{sameSession}, {orig}}, sameSession},
		{"ThenKnownAgent", [][]usage.Record{{orig}, {typed}}, typed},
		{"ThenKnownAgentFirst", [][]usage.Record{{typed}, {orig}}, typed},
		{"KnownAgentInOneBatch", [][]usage.Record{{typed, orig}}, typed},
		{"ThenAttribution", [][]usage.Record{{orig}, {attributed}}, attributed},
		{"ThenAttributionFirst", [][]usage.Record{{attributed}, {orig}}, attributed},
		{"AgentBeatsAttribution", [][]usage.Record{{typed}, {attributed}}, typed},
		{"AgentBeatsAttributionFirst", [][]usage.Record{{attributed}, {typed}}, typed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			for _, rs := range tc.batches {
				apply(t, s, usage.Batch{Records: rs})
			}
			if got := storedOne(t, s); got != normRecord(tc.want) {
				t.Errorf("stored %+v, want %+v", got, tc.want)
			}
		})
	}
}

// permutations returns every ordering of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func testPreferConverges(t *testing.T, s usage.Store) {
	// Four copies of one response; the winner has the most output and,
	// among the two with that output, the earlier time.
	copies := []struct {
		d      time.Duration
		output int64
	}{{0, 10}, {3 * time.Second, 30}, {2 * time.Second, 30}, {-time.Second, 5}}
	const winner = 2
	perms := permutations(len(copies))
	// Each ordering gets its own key, so one store checks them all.
	for i, p := range perms {
		key := fmt.Sprintf("msg_perm%02d", i)
		for _, c := range p {
			r := rec(key, copies[c].d, "claude-opus-4-6", fmt.Sprintf("copy%d", c), "/p/a",
				usage.Tokens{Input: 1, Output: copies[c].output})
			apply(t, s, usage.Batch{Records: []usage.Record{r}})
		}
	}
	got := allRecords(t, s)
	if len(got) != len(perms) {
		t.Fatalf("Records() has %d records, want %d (one per ordering)", len(got), len(perms))
	}
	// Aggregates follow the replacements too, with the winners' times.
	for _, dc := range dimensions {
		if a, want := aggregate(t, s, usage.Filter{}, dc.dim), reference(got, usage.Filter{}, dc.dim); !sameBuckets(a, want) {
			t.Errorf("Aggregate(%s) =\n%s\nwant\n%s", dc.name, formatBuckets(a), formatBuckets(want))
		}
	}
	for _, r := range got {
		if r.SessionID != fmt.Sprintf("copy%d", winner) || r.Output != 30 || !r.Timestamp.Equal(at(2*time.Second)) {
			t.Errorf("record %s kept %s (output %d at %v), want copy%d", r.Key, r.SessionID, r.Output, r.Timestamp, winner)
		}
	}
}

func testReplacementMovesAggregates(t *testing.T, s usage.Store) {
	// Three responses in one session and quarter hour. Better copies of the
	// first and the last arrive later under another session, so the
	// session's first and last times must move inward and the other
	// session must gain them.
	a := rec("msg_a", 1*time.Minute, opus, "s1", "/p/a", usage.Tokens{Input: 1, Output: 5})
	b := rec("msg_b", 2*time.Minute, opus, "s1", "/p/a", usage.Tokens{Input: 2, Output: 7})
	c := rec("msg_c", 3*time.Minute, opus, "s1", "/p/a", usage.Tokens{Input: 4, Output: 1})
	apply(t, s, usage.Batch{Records: []usage.Record{a, b, c}})
	a2 := rec("msg_a", 20*time.Minute, opus, "s2", "/p/b", usage.Tokens{Input: 8, Output: 50})
	c2 := rec("msg_c", 4*time.Minute, opus, "s2", "/p/b", usage.Tokens{Input: 16, Output: 100})
	apply(t, s, usage.Batch{Records: []usage.Record{c2, a2}})

	stored := allRecords(t, s)
	if want := []usage.Record{b, c2, a2}; !sameRecords(stored, want) {
		t.Fatalf("Records() = %+v, want %+v", stored, want)
	}
	for _, dc := range dimensions {
		if got, want := aggregate(t, s, usage.Filter{}, dc.dim), reference(stored, usage.Filter{}, dc.dim); !sameBuckets(got, want) {
			t.Errorf("Aggregate(%s) =\n%s\nwant\n%s", dc.name, formatBuckets(got), formatBuckets(want))
		}
	}
	got := aggregate(t, s, usage.Filter{SessionID: "s1"}, usage.BySession)
	want := []usage.Bucket{{Key: "s1", Model: opus, Tokens: b.Tokens, Entries: 1, First: b.Timestamp, Last: b.Timestamp, Project: "/p/a"}}
	if !sameBuckets(got, want) {
		t.Errorf("Aggregate(session s1) =\n%s\nwant\n%s", formatBuckets(got), formatBuckets(want))
	}
}

func testNoMessageID(t *testing.T, s usage.Store) {
	// Two lines without message ids but otherwise identical are two
	// responses; so are one message id under two request ids.
	a := rec(usage.RecordKey("", "", "uuid-1"), 0, "claude-opus-4-6", "s1", "/p/a", usage.Tokens{Input: 3, Output: 4})
	b := a
	b.Key = usage.RecordKey("", "", "uuid-2")
	a.MessageID, a.RequestID, b.MessageID, b.RequestID = "", "", "", ""
	c := rec(usage.RecordKey("msg_z", "req_1", "uuid-3"), 0, "claude-opus-4-6", "s1", "/p/a", usage.Tokens{Output: 4})
	c.MessageID, c.RequestID = "msg_z", "req_1"
	d := c
	d.Key, d.RequestID = usage.RecordKey("msg_z", "req_2", "uuid-4"), "req_2"
	apply(t, s, usage.Batch{Records: []usage.Record{a, b, c, d}})
	apply(t, s, usage.Batch{Records: []usage.Record{b}})
	if n := count(t, s, usage.Filter{}); n != 4 {
		t.Fatalf("CountRecords() = %d, want 4 distinct records", n)
	}
	bs := aggregate(t, s, usage.Filter{}, usage.ByNothing)
	if len(bs) != 1 || bs[0].Entries != 4 || bs[0].Output != 16 {
		t.Errorf("Aggregate(ByNothing) = %+v, want one bucket of 4 entries and 16 output", bs)
	}
}

func testInvalidRecord(t *testing.T, s usage.Store) {
	bad := rec("", 0, "claude-opus-4-6", "s1", "/p/a", usage.Tokens{Output: 1})
	err := s.Apply(t.Context(), usage.Batch{Records: []usage.Record{bad}})
	wantCode(t, "Apply(record without key)", err, usage.EINVALID)
	if n := count(t, s, usage.Filter{}); n != 0 {
		t.Errorf("CountRecords() after a rejected batch = %d, want 0", n)
	}
}
