package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

const (
	opus   = "claude-opus-4-6"
	sonnet = "claude-sonnet-4-5"
)

// dataset returns records that cover every filter field and dimension,
// with records exactly on the filter bounds used by filters, sessions that
// change project, and prompts on both sides of the long-context threshold.
func dataset() []usage.Record {
	r := func(key string, d time.Duration, model, session, project, user string, tok usage.Tokens) usage.Record {
		x := rec(key, d, model, session, project, tok)
		x.User = user
		return x
	}
	ms := time.Millisecond
	rs := []usage.Record{
		r("m01", 0, opus, "s1", "/p/a", "ann", usage.Tokens{Input: 100, Output: 10, CacheCreation5m: 1000, CacheRead: 5000}),
		r("m02", 5*time.Minute, sonnet, "s1", "/p/a", "ann", usage.Tokens{Input: 200, Output: 20, CacheCreation1h: 300, WebSearchRequests: 1}),
		r("m03", 15*time.Minute-ms, opus, "s2", "/p/b", "bob", usage.Tokens{Input: 50, Output: 5}),
		r("m04", 15*time.Minute, opus, "s2", "/p/b", "bob", usage.Tokens{Input: 1000, Output: 100, CacheRead: 250000}),
		r("m05", 30*time.Minute, sonnet, "s3", "/p/a", "ann", usage.Tokens{Input: 190000, Output: 1, CacheCreation5m: 10001}),
		r("m06", 30*time.Minute, opus, "s3", "/p/a", "bob", usage.Tokens{Input: 7, Output: 70}),
		r("m07", 44*time.Minute, opus, "s3", "/p/b", "bob", usage.Tokens{Input: 8, Output: 80}),
		r("m08", 60*time.Minute, sonnet, "s1", "/p/a", "ann", usage.Tokens{Input: 199000, Output: 3, CacheRead: 1000}),
		r("m09", 90*time.Minute-ms, opus, "s4", "/p/c", "", usage.Tokens{Input: 9, Output: 90}),
		r("m10", 90*time.Minute, opus, "s4", "/p/c", "", usage.Tokens{Input: 10, Output: 100}),
		r("m11", 2*time.Hour, sonnet, "s2", "/p/b", "bob", usage.Tokens{Input: 11, Output: 110, WebSearchRequests: 2}),
		r("m12", -time.Hour, opus, "s5", "/p/a", "ann", usage.Tokens{Input: 12, Output: 120, CacheCreation1h: 6}),
	}
	// Branches, subagents and attributions for the dimensions that only
	// records keep: a typed subagent, an untyped sidechain, main requests,
	// and records with and without a branch or an attribution.
	for i := range rs {
		rs[i].GitBranch = []string{"main", "feature/x", ""}[i%3]
	}
	rs[2].IsSidechain, rs[2].Agent = true, "general-purpose"
	rs[6].IsSidechain = true
	rs[9].IsSidechain, rs[9].Agent = true, "Explore"
	rs[3].Attribution, rs[10].Attribution = "skill:deep-research", "skill:deep-research"
	rs[5].Attribution = "plugin:review"
	return rs
}

// filters returns the filters the dimension test runs, by name.
func filters() []struct {
	name string
	f    usage.Filter
} {
	half := 500 * time.Microsecond
	return []struct {
		name string
		f    usage.Filter
	}{
		{"All", usage.Filter{}},
		{"Since", usage.Filter{Since: at(30 * time.Minute)}},
		{"Until", usage.Filter{Until: at(90 * time.Minute)}},
		{"UntilMidSession", usage.Filter{Until: at(40 * time.Minute)}},
		{"SinceUntil", usage.Filter{Since: at(15 * time.Minute), Until: at(90 * time.Minute)}},
		// Bounds between milliseconds: a record one half-millisecond
		// before Since is out, one before Until is in.
		{"SubMillisecondBounds", usage.Filter{Since: at(30*time.Minute + half), Until: at(90*time.Minute - half)}},
		{"Project", usage.Filter{Project: "/p/a"}},
		{"Model", usage.Filter{Model: sonnet}},
		{"Session", usage.Filter{SessionID: "s3"}},
		{"User", usage.Filter{User: "bob"}},
		{"Combined", usage.Filter{Since: at(15 * time.Minute), Project: "/p/b", User: "bob", Model: opus}},
		{"NoMatch", usage.Filter{Project: "/nowhere"}},
	}
}

// dimensions lists every dimension by name.
var dimensions = []struct {
	name string
	dim  usage.Dimension
}{
	{"ByNothing", usage.ByNothing},
	{"ByQuarterHour", usage.ByQuarterHour},
	{"BySession", usage.BySession},
	{"ByProject", usage.ByProject},
	{"ByUser", usage.ByUser},
	{"BySessionQuarterHour", usage.BySessionQuarterHour},
	{"ByBranch", usage.ByBranch},
	{"ByAgent", usage.ByAgent},
	{"ByAttribution", usage.ByAttribution},
}

// reference aggregates records in memory by the contract's definitions:
// Filter.Contains, the UTC quarter hour, Record.IsLongContext, and for
// sessions the project of the bucket's latest record (BySessionQuarterHour
// leaves Project empty).
func reference(rs []usage.Record, f usage.Filter, dim usage.Dimension) []usage.Bucket {
	type groupKey struct {
		key   string
		time  time.Time
		model string
	}
	groups := map[groupKey]*usage.Bucket{}
	for i := range rs {
		r := &rs[i]
		if !f.Contains(r) {
			continue
		}
		k := groupKey{model: r.Model}
		switch dim {
		case usage.ByQuarterHour:
			k.time = r.Timestamp.UTC().Truncate(15 * time.Minute)
		case usage.BySession:
			k.key = r.SessionID
		case usage.ByProject:
			k.key = r.Project
		case usage.ByUser:
			k.key = r.User
		case usage.BySessionQuarterHour:
			k.key = r.SessionID
			k.time = r.Timestamp.UTC().Truncate(15 * time.Minute)
		case usage.ByBranch:
			k.key = r.GitBranch
		case usage.ByAgent:
			k.key = r.AgentLabel()
		case usage.ByAttribution:
			k.key = r.Attribution
		}
		b := groups[k]
		if b == nil {
			b = &usage.Bucket{Key: k.key, Time: k.time, Model: k.model,
				First: r.Timestamp, Last: r.Timestamp}
			if dim == usage.BySession {
				b.Project = r.Project
			}
			groups[k] = b
		}
		b.Tokens = b.Tokens.Add(r.Tokens)
		b.Cost += price(*r)
		b.Entries++
		if r.Timestamp.Before(b.First) {
			b.First = r.Timestamp
		}
		if r.Timestamp.After(b.Last) {
			b.Last = r.Timestamp
			if dim == usage.BySession {
				b.Project = r.Project
			}
		}
	}
	var out []usage.Bucket
	for _, b := range groups {
		out = append(out, *b)
	}
	return sortBuckets(out)
}

// sameBuckets reports whether two sorted, normalised bucket lists match.
// A wanted bucket written by hand with no cost leaves the cost to the
// tests that compare with the reference (dimensions, cost per record).
func sameBuckets(got, want []usage.Bucket) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g := got[i]
		if want[i].Cost == 0 {
			g.Cost = 0
		}
		if g != want[i] {
			return false
		}
	}
	return true
}

func testAggregateDimensions(t *testing.T, s usage.Store) {
	data := dataset()
	// Two batches in reverse halves, so storage order is not time order.
	apply(t, s, usage.Batch{Records: data[6:]})
	apply(t, s, usage.Batch{Records: data[:6]})
	for _, fc := range filters() {
		for _, dc := range dimensions {
			t.Run(fc.name+"/"+dc.name, func(t *testing.T) {
				got := aggregate(t, s, fc.f, dc.dim)
				want := reference(data, fc.f, dc.dim)
				if !sameBuckets(got, want) {
					t.Errorf("Aggregate(%+v, %s) =\n%s\nwant\n%s", fc.f, dc.name, formatBuckets(got), formatBuckets(want))
				}
			})
		}
	}
}

// formatBuckets prints one bucket per line for failure messages.
func formatBuckets(bs []usage.Bucket) string {
	var s string
	for _, b := range bs {
		s += fmt.Sprintf("  %+v\n", b)
	}
	return s
}

func testAggregateHandChecked(t *testing.T, s usage.Store) {
	h1 := rec("h1", 0, opus, "s1", "/p/a", usage.Tokens{Input: 1, Output: 2, CacheCreation5m: 3, CacheCreation1h: 4, CacheRead: 5, WebSearchRequests: 1})
	h2 := rec("h2", 20*time.Minute, opus, "s2", "/p/b", usage.Tokens{Input: 10, Output: 20, CacheCreation5m: 30, CacheCreation1h: 40, CacheRead: 50})
	h3 := rec("h3", 25*time.Minute, sonnet, "s1", "/p/a", usage.Tokens{Input: 100, Output: 200})
	h1.User, h2.User, h3.User = "ann", "bob", "ann"
	apply(t, s, usage.Batch{Records: []usage.Record{h3, h1, h2}})

	for _, tc := range []struct {
		name string
		f    usage.Filter
		dim  usage.Dimension
		want []usage.Bucket
	}{
		{"ByProject", usage.Filter{}, usage.ByProject, []usage.Bucket{
			{Key: "/p/a", Model: opus, Tokens: h1.Tokens, Cost: price(h1), Entries: 1, First: at(0), Last: at(0)},
			{Key: "/p/a", Model: sonnet, Tokens: h3.Tokens, Cost: price(h3), Entries: 1, First: at(25 * time.Minute), Last: at(25 * time.Minute)},
			{Key: "/p/b", Model: opus, Tokens: h2.Tokens, Cost: price(h2), Entries: 1, First: at(20 * time.Minute), Last: at(20 * time.Minute)},
		}},
		{"ByNothingOneModel", usage.Filter{Model: opus}, usage.ByNothing, []usage.Bucket{
			{Model: opus, Tokens: usage.Tokens{Input: 11, Output: 22, CacheCreation5m: 33, CacheCreation1h: 44, CacheRead: 55, WebSearchRequests: 1},
				Cost: price(h1) + price(h2), Entries: 2, First: at(0), Last: at(20 * time.Minute)},
		}},
		{"ByUserSince", usage.Filter{Since: at(20 * time.Minute)}, usage.ByUser, []usage.Bucket{
			{Key: "ann", Model: sonnet, Tokens: h3.Tokens, Cost: price(h3), Entries: 1, First: at(25 * time.Minute), Last: at(25 * time.Minute)},
			{Key: "bob", Model: opus, Tokens: h2.Tokens, Cost: price(h2), Entries: 1, First: at(20 * time.Minute), Last: at(20 * time.Minute)},
		}},
		{"BySessionUntil", usage.Filter{Until: at(25 * time.Minute)}, usage.BySession, []usage.Bucket{
			{Key: "s1", Model: opus, Tokens: h1.Tokens, Cost: price(h1), Entries: 1, First: at(0), Last: at(0), Project: "/p/a"},
			{Key: "s2", Model: opus, Tokens: h2.Tokens, Cost: price(h2), Entries: 1, First: at(20 * time.Minute), Last: at(20 * time.Minute), Project: "/p/b"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregate(t, s, tc.f, tc.dim)
			want := sortBuckets(tc.want)
			if !sameBuckets(got, want) {
				t.Errorf("Aggregate(%+v, %d) =\n%s\nwant\n%s", tc.f, tc.dim, formatBuckets(got), formatBuckets(want))
			}
		})
	}
}

func testAggregateCostPerRecord(t *testing.T, s usage.Store) {
	// Each record is priced on its own: a tier bills the whole request
	// whose prompt (input + cache writes + cache reads, never output) is
	// above its size, so the sum of the records' costs is not the price of
	// their summed tokens.
	over := rec("l1", 0, sonnet, "s1", "/p/a", usage.Tokens{Input: 1000, CacheCreation5m: 100000, CacheCreation1h: 50000, CacheRead: 49001, Output: 1})
	edge := rec("l2", time.Minute, sonnet, "s1", "/p/a", usage.Tokens{Input: 1000, CacheCreation5m: 100000, CacheCreation1h: 50000, CacheRead: 49000, Output: 500000})
	small := rec("l3", 2*time.Minute, sonnet, "s1", "/p/a", usage.Tokens{Input: 10, Output: 10})
	apply(t, s, usage.Batch{Records: []usage.Record{over, edge, small}})

	sum := over.Tokens.Add(edge.Tokens).Add(small.Tokens)
	want := []usage.Bucket{{Model: sonnet, Tokens: sum, Cost: price(over) + price(edge) + price(small),
		Entries: 3, First: over.Timestamp, Last: small.Timestamp}}
	whole := usage.Record{Model: sonnet, Timestamp: over.Timestamp, Tokens: sum}
	if price(whole) == want[0].Cost {
		t.Fatalf("test data: the summed tokens cost what the records cost; the test would prove nothing")
	}
	if got := aggregate(t, s, usage.Filter{}, usage.ByNothing); !sameBuckets(got, want) {
		t.Errorf("Aggregate(ByNothing) =\n%s\nwant\n%s", formatBuckets(got), formatBuckets(want))
	}
	want[0].Key, want[0].Project = "s1", "/p/a"
	if got := aggregate(t, s, usage.Filter{}, usage.BySession); !sameBuckets(got, want) {
		t.Errorf("Aggregate(BySession) =\n%s\nwant\n%s", formatBuckets(got), formatBuckets(want))
	}
	recs, err := s.Records(context.Background(), usage.Filter{}, usage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if want := price(r); r.Cost != want {
			t.Errorf("record %s: Cost = %s, want %s", r.Key, r.Cost, want)
		}
	}
}

func testAggregateQuarterHour(t *testing.T, s usage.Store) {
	// Quarter hours are UTC; records logged with other offsets land in the
	// UTC quarter that contains their instant.
	nepal := time.FixedZone("NPT", 5*3600+45*60)
	india := time.FixedZone("IST", 5*3600+30*60)
	ms := time.Millisecond
	rs := []usage.Record{
		rec("q1", 0, opus, "s1", "/p/a", usage.Tokens{Output: 1}),
		rec("q2", 15*time.Minute-ms, opus, "s1", "/p/a", usage.Tokens{Output: 2}),
		rec("q3", 15*time.Minute, opus, "s1", "/p/a", usage.Tokens{Output: 4}),
		rec("q4", 0, opus, "s1", "/p/a", usage.Tokens{Output: 8}),
		rec("q5", 0, opus, "s1", "/p/a", usage.Tokens{Output: 16}),
	}
	rs[3].Timestamp = time.Date(2026, 3, 2, 11, 44, 0, 0, nepal) // 05:59 UTC
	rs[4].Timestamp = time.Date(2026, 3, 2, 16, 0, 0, 0, india)  // 10:30 UTC
	apply(t, s, usage.Batch{Records: rs})

	utc := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
	want := sortBuckets([]usage.Bucket{
		{Time: utc(5, 45), Model: opus, Tokens: usage.Tokens{Output: 8}, Entries: 1, First: rs[3].Timestamp, Last: rs[3].Timestamp},
		{Time: utc(10, 0), Model: opus, Tokens: usage.Tokens{Output: 3}, Entries: 2, First: rs[0].Timestamp, Last: rs[1].Timestamp},
		{Time: utc(10, 15), Model: opus, Tokens: usage.Tokens{Output: 4}, Entries: 1, First: rs[2].Timestamp, Last: rs[2].Timestamp},
		{Time: utc(10, 30), Model: opus, Tokens: usage.Tokens{Output: 16}, Entries: 1, First: rs[4].Timestamp, Last: rs[4].Timestamp},
	})
	if got := aggregate(t, s, usage.Filter{}, usage.ByQuarterHour); !sameBuckets(got, want) {
		t.Errorf("Aggregate(ByQuarterHour) =\n%s\nwant\n%s", formatBuckets(got), formatBuckets(want))
	}
}

func testAggregateSessionProject(t *testing.T, s usage.Store) {
	// A session that moved project is reported under the project of its
	// latest record, whatever order the records were stored in.
	rs := []usage.Record{
		rec("p1", 10*time.Minute, opus, "s1", "/p/new", usage.Tokens{Output: 1}),
		rec("p2", 0, opus, "s1", "/p/old", usage.Tokens{Output: 1}),
		rec("p3", 5*time.Minute, opus, "s1", "/p/mid", usage.Tokens{Output: 1}),
	}
	apply(t, s, usage.Batch{Records: rs})
	for _, tc := range []struct {
		f    usage.Filter
		want string
	}{
		{usage.Filter{}, "/p/new"},
		{usage.Filter{Until: at(10 * time.Minute)}, "/p/mid"},
		{usage.Filter{Until: at(5 * time.Minute)}, "/p/old"},
	} {
		got := aggregate(t, s, tc.f, usage.BySession)
		if len(got) != 1 || got[0].Project != tc.want {
			t.Errorf("Aggregate(%+v, BySession) =\n%s\nwant one bucket with project %s", tc.f, formatBuckets(got), tc.want)
		}
	}
}

func testAggregateUnknownDimension(t *testing.T, s usage.Store) {
	_, err := s.Aggregate(t.Context(), usage.Filter{}, usage.Dimension(99))
	wantCode(t, "Aggregate(dimension 99)", err, usage.EINVALID)
}

func testAggregateEmpty(t *testing.T, s usage.Store) {
	for _, dc := range dimensions {
		if got := aggregate(t, s, usage.Filter{}, dc.dim); len(got) != 0 {
			t.Errorf("Aggregate(%s) on an empty store =\n%s\nwant no buckets", dc.name, formatBuckets(got))
		}
	}
}

func testAggregateSessionQuarterHours(t *testing.T, s usage.Store) {
	// Two sessions interleaved over three quarter hours: one bucket per
	// (quarter hour, session, model), never merged across sessions or
	// quarters, and no project.
	ms := time.Millisecond
	rs := []usage.Record{
		rec("a1", 0, opus, "s1", "/p/a", usage.Tokens{Output: 1}),
		rec("a2", 14*time.Minute, opus, "s1", "/p/b", usage.Tokens{Output: 2}),
		rec("a3", 14*time.Minute, opus, "s2", "/p/a", usage.Tokens{Output: 4}),
		rec("a4", 15*time.Minute, opus, "s1", "/p/a", usage.Tokens{Output: 8}),
		rec("a5", 30*time.Minute-ms, sonnet, "s1", "/p/a", usage.Tokens{Output: 16}),
		rec("a6", 31*time.Minute, opus, "s2", "/p/a", usage.Tokens{Output: 32}),
	}
	apply(t, s, usage.Batch{Records: rs})
	q := func(m time.Duration) time.Time { return at(m * time.Minute) }
	b := func(session string, quarter time.Duration, model string, output, entries int64, first, last time.Duration) usage.Bucket {
		return usage.Bucket{Key: session, Time: q(quarter), Model: model, Tokens: usage.Tokens{Output: output},
			Entries: entries, First: at(first), Last: at(last)}
	}
	for _, tc := range []struct {
		name string
		f    usage.Filter
		want []usage.Bucket
	}{
		{"All", usage.Filter{}, []usage.Bucket{
			b("s1", 0, opus, 3, 2, 0, 14*time.Minute),
			b("s1", 15, opus, 8, 1, 15*time.Minute, 15*time.Minute),
			b("s1", 15, sonnet, 16, 1, 30*time.Minute-ms, 30*time.Minute-ms),
			b("s2", 0, opus, 4, 1, 14*time.Minute, 14*time.Minute),
			b("s2", 30, opus, 32, 1, 31*time.Minute, 31*time.Minute),
		}},
		// A range that starts inside a quarter hour keeps only the part
		// of that quarter hour in range.
		{"SinceMidQuarter", usage.Filter{Since: at(10 * time.Minute), Until: at(31 * time.Minute)}, []usage.Bucket{
			b("s1", 0, opus, 2, 1, 14*time.Minute, 14*time.Minute),
			b("s1", 15, opus, 8, 1, 15*time.Minute, 15*time.Minute),
			b("s1", 15, sonnet, 16, 1, 30*time.Minute-ms, 30*time.Minute-ms),
			b("s2", 0, opus, 4, 1, 14*time.Minute, 14*time.Minute),
		}},
		{"Project", usage.Filter{Project: "/p/b"}, []usage.Bucket{
			b("s1", 0, opus, 2, 1, 14*time.Minute, 14*time.Minute),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregate(t, s, tc.f, usage.BySessionQuarterHour)
			want := sortBuckets(tc.want)
			if !sameBuckets(got, want) {
				t.Errorf("Aggregate(%+v, BySessionQuarterHour) =\n%s\nwant\n%s", tc.f, formatBuckets(got), formatBuckets(want))
			}
		})
	}
}
