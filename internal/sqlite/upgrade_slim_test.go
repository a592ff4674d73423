package sqlite

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// slimRecords returns records that exercise every way 0111 stores a
// record: keys that tell their message and request ids and keys that do
// not (other ids, no ids, a ':' inside the message id), strings shared
// between columns, empty and non-empty optional fields, and several
// records in one rollup row.
func slimRecords() []usage.Record {
	at := func(min int) time.Time { return day.Add(time.Duration(min)*time.Minute + 123*time.Millisecond) }
	base := func(key, msg, req string, ts time.Time, out int64) usage.Record {
		return usage.Record{Key: key, MessageID: msg, RequestID: req, Timestamp: ts,
			Model: "claude-opus-4-6", SessionID: "5f0c2b7e-1111-4222-8333-944455556666",
			Project: "/home/u/p", CWD: "/home/u/p", GitBranch: "main", Version: "2.1.3",
			Tokens: usage.Tokens{Input: 10, Output: out, CacheCreation5m: 3, CacheCreation1h: 4, CacheRead: 1000,
				WebSearchRequests: 1, WebFetchRequests: 2}}
	}
	var rs []usage.Record
	for i := range 40 {
		r := base("msg_"+strconv.Itoa(i)+":req_"+strconv.Itoa(i), "msg_"+strconv.Itoa(i), "req_"+strconv.Itoa(i),
			at(i*4), int64(100+i))
		switch i % 4 {
		case 1:
			r.SessionID, r.Project, r.CWD = "s-2", "/home/u/ü", "/home/u/ü/sub"
			r.IsSidechain, r.Agent = true, "Explore"
		case 2:
			r.Model, r.Speed, r.InferenceGeo, r.ServiceTier = "claude-sonnet-4-5", "fast", "us", "priority"
			r.User, r.Machine, r.Attribution = "alice", "laptop", "skill:review"
		case 3:
			r.IsSidechain, r.GitBranch, r.Version = true, "", ""
		}
		rs = append(rs, r)
	}
	rs = append(rs,
		base("line:0b8f", "", "", at(7), 5),                     // a line without ids
		base("a:b:c", "a:b", "c", at(8), 6),                     // the key splits at the wrong ':'
		base("m_9:r_9", "other", "r_9", at(9), 7),               // ids the key does not tell
		base("m_10:", "m_10", "", at(10), 8),                    // an empty request id
		base(":r_11", "", "r_11", at(11), 9),                    // an empty message id
		base("/home/u/p:main", "/home/u/p", "main", at(12), 10), // ids equal to other columns' strings
		base("m\x00x:r_13", "m\x00x", "r_13", at(13), 11),       // a NUL, where SQL text functions stop
		base("m_14:r\x00y", "m_14", "r\x00y", at(14), 12),
		base("a\x80\x80:r_15", "a\x80\x80", "r_15", at(15), 13), // bytes that are not UTF-8
	)
	return rs
}

// TestSlimMigrationKeepsRecords: a database with records from before
// 0111 migrates to the slim form with every record, column for column, the
// same aggregates and the same rollup as a store that was written slim,
// and both go on to store replacements and new strings alike.
func TestSlimMigrationKeepsRecords(t *testing.T) {
	ctx := t.Context()
	recs := slimRecords()
	ref := mustOpen(t, tempPath(t))
	if err := ref.Apply(ctx, usage.Batch{Records: slices.Clone(recs)}); err != nil {
		t.Fatal(err)
	}
	want, err := ref.Records(ctx, usage.Filter{}, usage.Page{})
	if err != nil || len(want) != len(recs) {
		t.Fatalf("Records() = %d records, %v; want %d", len(want), err, len(recs))
	}
	var prices string
	if err := ref.reader.QueryRow(`SELECT prices FROM generation`).Scan(&prices); err != nil {
		t.Fatal(err)
	}

	// The same records in the table of 0110, with the rollup its Apply
	// kept, priced with the same table so that the open does not re-price.
	// Bytes, so that any string (NUL, not UTF-8) is stored as it is.
	q := func(s string) string { return fmt.Sprintf("CAST(x'%x' AS TEXT)", s) }
	var rows []string
	for _, r := range want {
		rows = append(rows, "("+strings.Join([]string{q(r.Key), q(r.MessageID), q(r.RequestID),
			itoa(r.Timestamp.UnixMilli()), q(r.Model), q(r.SessionID), q(r.Project), q(r.CWD), q(r.GitBranch),
			q(r.Version), strconv.FormatBool(r.IsSidechain), q(r.ServiceTier), q(r.Speed), q(r.InferenceGeo),
			q(r.User), q(r.Machine), itoa(r.Input), itoa(r.Output), itoa(r.CacheCreation5m),
			itoa(r.CacheCreation1h), itoa(r.CacheRead), itoa(r.WebSearchRequests), itoa(r.WebFetchRequests),
			itoa(int64(r.Cost)), q(r.Agent), q(r.Attribution)}, ", ")+")")
	}
	path := tempPath(t)
	migratedBefore(t, path, "migrations/0111",
		`INSERT INTO records (`+recordColumns+`) VALUES `+strings.Join(rows, ",\n"),
		`INSERT INTO rollup SELECT ts / 900000 - (ts % 900000 < 0), session_id, project, user, model, sum(cost),
			sum(input), sum(output), sum(cache_creation_5m), sum(cache_creation_1h), sum(cache_read),
			sum(web_search_requests), sum(web_fetch_requests), count(*), min(ts), max(ts)
			FROM records GROUP BY 1, session_id, project, user, model`,
		`UPDATE generation SET prices = `+q(prices))
	s := mustOpen(t, path)

	// Three records keep their ids: those whose key does not tell them.
	if n := dump(t, s, `SELECT count(*) FROM record_rows WHERE message_id IS NOT NULL`); n[0][0] != int64(3) {
		t.Errorf("records that keep their ids = %v, want 3", n[0][0])
	}
	compare := func(when string) {
		t.Helper()
		// Both stores keep the rollup the same way; the sums of their
		// records tell whether that way is right.
		sameRecordsAndRollup(t, when, s, ref)
		summed := `SELECT ts / 900000 - (ts % 900000 < 0) AS qh, session_id, project, user, model, sum(cost),
			sum(input), sum(output), sum(cache_creation_5m), sum(cache_creation_1h), sum(cache_read),
			sum(web_search_requests), sum(web_fetch_requests), count(*), min(ts), max(ts)
			FROM records GROUP BY 1, session_id, project, user, model ORDER BY 1, session_id, project, user, model`
		if a, b := dump(t, s, rollupRows), dump(t, s, summed); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: rollup = %v\nwant the sums of the records %v", when, a, b)
		}
		for _, f := range []usage.Filter{{}, {Project: "/home/u/ü"}, {SessionID: "s-2"}, {Model: "claude-sonnet-4-5"},
			{User: "alice"}, {Project: "none"}, {Since: day.Add(7 * time.Minute), Until: day.Add(100 * time.Minute)}} {
			for dim := usage.ByNothing; dim <= usage.ByAttribution; dim++ {
				a, err1 := s.Aggregate(ctx, f, dim)
				b, err2 := ref.Aggregate(ctx, f, dim)
				for _, bs := range [][]usage.Bucket{a, b} {
					slices.SortFunc(bs, func(x, y usage.Bucket) int {
						return cmp.Or(x.Time.Compare(y.Time), cmp.Compare(x.Key, y.Key), cmp.Compare(x.Model, y.Model))
					})
				}
				if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
					t.Errorf("%s: Aggregate(%+v, %v) = %v, %v\nwant %v, %v", when, f, dim, a, err1, b, err2)
				}
			}
			n1, err1 := s.CountRecords(ctx, f)
			n2, err2 := ref.CountRecords(ctx, f)
			if err1 != nil || err2 != nil || n1 != n2 {
				t.Errorf("%s: CountRecords(%+v) = %d, %v; want %d, %v", when, f, n1, err1, n2, err2)
			}
		}
	}
	compare("after the migration")

	// A preferred copy moves a record to a new session and model, through
	// the rollup trigger; one with a known agent and fast speed changes
	// only the cost of its rollup row; an equal copy changes nothing; a
	// new record brings new strings.
	more := []usage.Record{recs[5], recs[0], recs[4], recs[8]}
	more[0].Output, more[0].SessionID, more[0].Model = 1000, "s-new", "claude-haiku-4-5"
	more[1].Key, more[1].MessageID, more[1].Project = "msg_new:req_0", "msg_new", "/new"
	more[2].Agent, more[2].Speed = "Plan", "fast"
	for _, st := range []*Store{s, ref} {
		if err := st.Apply(ctx, usage.Batch{Records: slices.Clone(more)}); err != nil {
			t.Fatal(err)
		}
	}
	compare("after Apply")
	got, err := s.Records(ctx, usage.Filter{}, usage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r.Key == recs[4].Key && (r.Speed != "fast" || r.Cost == want[slices.IndexFunc(want,
			func(w usage.Record) bool { return w.Key == r.Key })].Cost) {
			t.Errorf("record %q after a fast copy = speed %q, cost %d; want fast at another cost", r.Key, r.Speed, r.Cost)
		}
	}
}

// TestInternedAcrossProcesses: two stores on one database (as two ctm
// processes) intern strings in turn, each between the other's
// transactions, and every record reads back with its own strings.
func TestInternedAcrossProcesses(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	a, b := mustOpen(t, path), mustOpen(t, path)
	rec := func(i int, session, project string) usage.Record {
		return usage.Record{Key: "m" + strconv.Itoa(i) + ":r", MessageID: "m" + strconv.Itoa(i), RequestID: "r",
			Timestamp: day.Add(time.Duration(i) * time.Minute), Model: "claude-opus-4-6",
			SessionID: session, Project: project, Tokens: usage.Tokens{Output: int64(i + 1)}}
	}
	var want []usage.Record
	for i, w := range []struct {
		st               *Store
		session, project string
	}{{a, "s1", "/p1"}, {b, "s2", "/p1"}, {a, "s2", "/p3"}, {b, "s4", "/p3"}, {a, "s4", "s1"}, {b, "/p1", "s5"}} {
		r := rec(i, w.session, w.project)
		if err := w.st.Apply(ctx, usage.Batch{Records: []usage.Record{r}}); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	for _, st := range []*Store{a, b} {
		got, err := st.Records(ctx, usage.Filter{}, usage.Page{})
		if err != nil || len(got) != len(want) {
			t.Fatalf("Records() = %d records, %v; want %d", len(got), err, len(want))
		}
		for i := range got {
			if g, w := got[i], want[i]; g.Key != w.Key || g.SessionID != w.SessionID || g.Project != w.Project || g.Model != w.Model {
				t.Errorf("record %d = %q %q %q %q, want %q %q %q %q", i, g.Key, g.SessionID, g.Project, g.Model,
					w.Key, w.SessionID, w.Project, w.Model)
			}
		}
		if n, err := st.CountRecords(ctx, usage.Filter{SessionID: "s2"}); n != 2 || err != nil {
			t.Errorf("CountRecords(session s2) = %d, %v; want 2", n, err)
		}
	}
}

// TestSlimIDsRoundTrip: the message and request ids that a slim row leaves
// to its key read back byte for byte as they were stored, through Apply
// and through a Bulk, also with NUL bytes and bytes that are not UTF-8
// (SQLite's text functions stop at a NUL and count characters).
func TestSlimIDsRoundTrip(t *testing.T) {
	rs := slimRecords()
	for _, bulk := range []bool{false, true} {
		s := mustOpen(t, tempPath(t))
		if bulk {
			writeOneBulk(t, s, rs)
		} else if err := s.Apply(t.Context(), usage.Batch{Records: rs}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Records(t.Context(), usage.Filter{}, usage.Page{})
		if err != nil {
			t.Fatal(err)
		}
		byKey := map[string]usage.Record{}
		for _, r := range got {
			byKey[r.Key] = r
		}
		for _, r := range rs {
			g, ok := byKey[r.Key]
			if !ok || g.MessageID != r.MessageID || g.RequestID != r.RequestID {
				t.Errorf("bulk %v: key %q stored with ids %q, %q; read back %v with %q, %q",
					bulk, r.Key, r.MessageID, r.RequestID, ok, g.MessageID, g.RequestID)
			}
		}
	}
}

// writeOneBulk writes rs through one Bulk of the empty store s.
func writeOneBulk(t *testing.T, s *Store, rs []usage.Record) {
	t.Helper()
	w, err := s.BeginBulk(t.Context())
	if err != nil || w == nil {
		t.Fatalf("BeginBulk() = %v, %v", w, err)
	}
	if err := w.Apply(t.Context(), usage.Batch{Records: rs}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}
