package sqlite

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

func TestStoreWithoutMirror(t *testing.T) {
	// The SQL path must meet the contract on its own: it serves rollups
	// too large to copy.
	storetest.Run(t, func(t *testing.T) usage.Store {
		s := mustOpen(t, tempPath(t))
		s.noMirror = true
		return s
	})
}

func TestStoreMirrorTooBig(t *testing.T) {
	// A limit of one row: any real rollup falls back to SQL after the
	// count, which must be just as correct.
	storetest.Run(t, func(t *testing.T) usage.Store {
		s := mustOpen(t, tempPath(t))
		s.mirrorLimit = 1
		return s
	})
}

// sortedBuckets orders buckets for comparison, with times in UTC.
func sortedBuckets(bs []usage.Bucket) []usage.Bucket {
	out := slices.Clone(bs)
	slices.SortFunc(out, func(x, y usage.Bucket) int {
		return cmp.Or(cmp.Compare(x.Key, y.Key), x.Time.Compare(y.Time), cmp.Compare(x.Model, y.Model))
	})
	return out
}

func TestMirrorMatchesSQL(t *testing.T) {
	// Both paths over the same file, after every batch of copies that
	// insert, replace and move records between groups, for every
	// dimension and a range with partial quarter hours at both ends.
	path := tempPath(t)
	mem := mustOpen(t, path)
	sql := mustOpen(t, path)
	sql.noMirror = true
	var copies []usage.Record
	for i := range 400 {
		h := mix(uint64(i))
		copies = append(copies, usage.Record{
			Key:       fmt.Sprintf("msg_%02d", h%60),
			Timestamp: day.Add(time.Duration(h%(4*3600)) * time.Second),
			Model:     []string{"claude-opus-4-6", "claude-sonnet-4-5"}[h%2],
			SessionID: fmt.Sprintf("s%d", h%4),
			Project:   fmt.Sprintf("/p/%d", h%3),
			User:      fmt.Sprintf("u%d", h%2),
			Tokens:    usage.Tokens{Input: int64(h % 1000), Output: int64(h % 40), CacheRead: int64(h % 250000)},
		})
	}
	filters := []usage.Filter{
		{},
		{Since: day.Add(7*time.Minute + 3*time.Second), Until: day.Add(3*time.Hour + 5*time.Minute)},
		{Since: day.Add(time.Hour), Project: "/p/1"},
		{Until: day.Add(2 * time.Hour), User: "u0", Model: "claude-opus-4-6"},
		{SessionID: "s2", Since: day.Add(61 * time.Second), Until: day.Add(119 * time.Second)},
	}
	dims := []usage.Dimension{usage.ByNothing, usage.ByQuarterHour, usage.BySession, usage.ByProject,
		usage.ByUser, usage.BySessionQuarterHour}
	for i := 0; i < len(copies); i += 57 {
		if err := mem.Apply(t.Context(), usage.Batch{Records: copies[i:min(i+57, len(copies))]}); err != nil {
			t.Fatalf("Apply() = %v", err)
		}
		// Once aggregates have loaded the copy, each small Apply patches
		// it to the new generation: the comparison below checks the patch.
		if i > 0 {
			var gen int64
			if err := mem.reader.QueryRow(`SELECT gen FROM generation`).Scan(&gen); err != nil {
				t.Fatal(err)
			}
			if st := mem.mirror.cur.Load(); st == nil || st.gen != gen {
				t.Fatalf("after Apply the copy is not at generation %d", gen)
			}
		}
		for _, f := range filters {
			for _, dim := range dims {
				got, err := mem.Aggregate(t.Context(), f, dim)
				if err != nil {
					t.Fatalf("mirror Aggregate(%+v, %d) = %v", f, dim, err)
				}
				want, err := sql.Aggregate(t.Context(), f, dim)
				if err != nil {
					t.Fatalf("SQL Aggregate(%+v, %d) = %v", f, dim, err)
				}
				if g, w := sortedBuckets(got), sortedBuckets(want); !slices.Equal(g, w) {
					t.Fatalf("after %d copies, Aggregate(%+v, %d):\nmirror %+v\nSQL    %+v", i+57, f, dim, g, w)
				}
			}
		}
	}
}

func TestMirrorFromSnapshotMatchesSQL(t *testing.T) {
	// Each batch is applied by a new store, standing for the next ctm
	// daily: it takes the saved copy without decoding its rows, patches
	// its blocks and sums and saves it again. Every aggregate of that
	// store, and of one more that opens the file it saved, must equal SQL.
	path := tempPath(t)
	sql := mustOpen(t, path)
	sql.noMirror = true
	first := mustOpen(t, path)
	var copies []usage.Record
	for i := range 600 {
		h := mix(uint64(i) + 7)
		copies = append(copies, usage.Record{
			Key:       fmt.Sprintf("msg_%03d", h%150),
			Timestamp: day.Add(time.Duration(h%(6*3600)) * time.Second),
			Model:     []string{"claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5"}[h%3],
			SessionID: fmt.Sprintf("s%d", h%5),
			Project:   fmt.Sprintf("/p/%d", h%3),
			User:      fmt.Sprintf("u%d", h%2),
			Tokens:    usage.Tokens{Input: int64(h % 1000), Output: int64(h % 40), CacheRead: int64(h % 250000)},
		})
	}
	if err := first.Apply(t.Context(), usage.Batch{Records: copies[:100]}); err != nil {
		t.Fatal(err)
	}
	// The first aggregate loads the copy from SQL and saves it.
	if _, err := first.Aggregate(t.Context(), usage.Filter{}, usage.ByNothing); err != nil {
		t.Fatal(err)
	}
	filters := []usage.Filter{
		{},
		{Model: "claude-sonnet-4-5"},
		{Since: day.Add(7*time.Minute + 3*time.Second), Until: day.Add(3*time.Hour + 5*time.Minute)},
		{Since: day.Add(time.Hour), Until: day.Add(5 * time.Hour), Model: "claude-opus-4-6"},
		{Since: day.Add(time.Hour), Project: "/p/1"},
		{Until: day.Add(2 * time.Hour), User: "u0", Model: "claude-opus-4-6"},
		{Model: "no-such-model"},
	}
	dims := []usage.Dimension{usage.ByQuarterHour, usage.ByNothing, usage.BySession, usage.ByProject,
		usage.ByUser, usage.BySessionQuarterHour}
	compare := func(s *Store, what string) {
		t.Helper()
		for _, f := range filters {
			for _, dim := range dims {
				got, err := s.Aggregate(t.Context(), f, dim)
				if err != nil {
					t.Fatalf("%s: Aggregate(%+v, %d) = %v", what, f, dim, err)
				}
				want, err := sql.Aggregate(t.Context(), f, dim)
				if err != nil {
					t.Fatalf("SQL Aggregate(%+v, %d) = %v", f, dim, err)
				}
				if g, w := sortedBuckets(got), sortedBuckets(want); !slices.Equal(g, w) {
					t.Fatalf("%s: Aggregate(%+v, %d):\nmirror %+v\nSQL    %+v", what, f, dim, g, w)
				}
			}
		}
	}
	for i := 100; i < len(copies); i += 50 {
		next := mustOpen(t, path)
		if err := next.Apply(t.Context(), usage.Batch{Records: copies[i : i+50]}); err != nil {
			t.Fatalf("Apply() = %v", err)
		}
		st := next.mirror.cur.Load()
		if st == nil || st.blocks == nil {
			t.Fatalf("after %d copies, the new store did not patch the saved copy", i+50)
		}
		if _, decoded := st.readyRows(); decoded {
			t.Fatalf("after %d copies, the patch decoded the saved rows", i+50)
		}
		if e := next.snapshotErr.Load(); e != nil {
			t.Fatalf("saving the patched copy: %v", *e)
		}
		// The streamed file is the blob bulk commits encode in memory.
		var instance []byte
		if err := next.reader.QueryRow(`SELECT instance FROM generation`).Scan(&instance); err != nil {
			t.Fatal(err)
		}
		if file, err := os.ReadFile(next.snapshotPath()); err != nil || !bytes.Equal(file, encodeSnapshot(st, instance)) {
			t.Fatalf("after %d copies, the saved file (%d bytes, %v) is not encodeSnapshot's", i+50, len(file), err)
		}
		// A calendar report of everyone reads the sums alone.
		if _, err := next.Aggregate(t.Context(), usage.Filter{}, usage.ByQuarterHour); err != nil {
			t.Fatal(err)
		}
		if _, decoded := st.readyRows(); decoded {
			t.Fatalf("after %d copies, a report by quarter hour decoded the rows", i+50)
		}
		compare(next, fmt.Sprintf("after %d copies, the patched copy", i+50))
		compare(mustOpen(t, path), fmt.Sprintf("after %d copies, the saved copy", i+50))
	}
}

func TestMirrorSeesOtherWriters(t *testing.T) {
	// Another store on the same file stands for another process (ctm
	// daily catching up while ctm serve runs): its writes must show in
	// the next aggregate, though this store never wrote.
	path := tempPath(t)
	reader := mustOpen(t, path)
	writer := mustOpen(t, path)
	total := func() int64 {
		t.Helper()
		bs, err := reader.Aggregate(t.Context(), usage.Filter{}, usage.ByNothing)
		if err != nil {
			t.Fatalf("Aggregate() = %v", err)
		}
		var n int64
		for _, b := range bs {
			n += b.Entries
		}
		return n
	}
	if got := total(); got != 0 {
		t.Fatalf("empty store: %d entries, want 0", got)
	}
	for i, n := range []int{10, 25} {
		if err := writer.Apply(t.Context(), usage.Batch{Records: testRecords(n, day.Add(time.Duration(i)*time.Hour), fmt.Sprintf("w%d_", i))}); err != nil {
			t.Fatalf("Apply() = %v", err)
		}
		st := reader.mirror.cur.Load()
		if got, want := total(), int64([]int{10, 35}[i]); got != want {
			t.Errorf("after write %d: %d entries, want %d", i, got, want)
		}
		if st != nil && reader.mirror.cur.Load() == st {
			t.Errorf("after write %d the copy was not reloaded", i)
		}
	}
	// Without a write in between the copy is reused, not reloaded.
	st := reader.mirror.cur.Load()
	total()
	if reader.mirror.cur.Load() != st {
		t.Errorf("the copy was reloaded although nothing changed")
	}
	// A batch without records (file states only) changes no aggregate
	// and keeps the copy.
	if err := writer.Apply(t.Context(), usage.Batch{Files: []usage.FileState{{Path: "/t/a", Size: 1}}}); err != nil {
		t.Fatalf("Apply(files) = %v", err)
	}
	total()
	if reader.mirror.cur.Load() != st {
		t.Errorf("a batch of file states reloaded the copy")
	}
}

func TestMirrorOlderSnapshotKeepsNewerCopy(t *testing.T) {
	s := mustOpen(t, tempPath(t))
	if err := s.Apply(t.Context(), usage.Batch{Records: testRecords(5, day, "m")}); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	newer := &mirrorState{gen: 100}
	s.mirror.cur.Store(newer)
	tx, err := s.reader.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	st, err := s.mirrorAt(t.Context(), tx, 1)
	if err != nil {
		t.Fatalf("mirrorAt() = %v", err)
	}
	if len(st.rows) == 0 || st.gen != 1 {
		t.Errorf("mirrorAt(1) = gen %d with %d rows, want gen 1 with the stored rows", st.gen, len(st.rows))
	}
	if s.mirror.cur.Load() != newer {
		t.Errorf("a load at generation 1 replaced the copy at generation 100")
	}
}

func TestMirrorPatchAfterOtherWriter(t *testing.T) {
	// This store's copy is at generation g; another process writes (g+1),
	// then this store writes (g+2). Patching g with this store's change
	// alone would lose the other's, so the copy must be reloaded instead.
	path := tempPath(t)
	a := mustOpen(t, path)
	b := mustOpen(t, path)
	entries := func() int64 {
		t.Helper()
		bs, err := a.Aggregate(t.Context(), usage.Filter{}, usage.ByQuarterHour)
		if err != nil {
			t.Fatalf("Aggregate() = %v", err)
		}
		var n int64
		for _, b := range bs {
			n += b.Entries
		}
		return n
	}
	if err := a.Apply(t.Context(), usage.Batch{Records: testRecords(3, day, "a")}); err != nil {
		t.Fatal(err)
	}
	entries() // load the copy
	if err := b.Apply(t.Context(), usage.Batch{Records: testRecords(4, day.Add(time.Hour), "b")}); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(t.Context(), usage.Batch{Records: testRecords(5, day.Add(2*time.Hour), "c")}); err != nil {
		t.Fatal(err)
	}
	if got := entries(); got != 12 {
		t.Errorf("entries = %d, want 12 (3 + 4 from the other writer + 5)", got)
	}
}

func TestOverlay(t *testing.T) {
	// Strings the copy does not hold get ids of their own, below -1 (the
	// "any" of idFilter), without changing the copy's dictionary.
	base := dictionary{ids: map[string]int32{}}
	a := base.id([]byte("a"))
	o := newOverlay(&base)
	b := o.id([]byte("b"))
	if got := o.id([]byte("a")); got != a {
		t.Errorf("id(a) = %d, want the base id %d", got, a)
	}
	if b > -2 || o.id([]byte("b")) != b {
		t.Errorf("id(b) = %d then %d, want one stable id below -1", b, o.id([]byte("b")))
	}
	if o.name(a) != "a" || o.name(b) != "b" {
		t.Errorf("names = %q, %q, want a, b", o.name(a), o.name(b))
	}
	if base.lookup("b") != -1 || len(base.names) != 1 {
		t.Errorf("the overlay changed its base: %v", base.names)
	}
}

func TestAggregatePeriodsMatchesQuarterHours(t *testing.T) {
	// Rolled up by period, the merged buckets of AggregatePeriods give
	// the report the quarter hours give, and by session the same sums per
	// period, session and model, from the in-memory copy and from SQL, in
	// zones with DST changes and :30 and :45 offsets, for every period
	// and with filters and partial ends.
	path := tempPath(t)
	mem := mustOpen(t, path)
	sql := mustOpen(t, path)
	sql.noMirror = true
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var records []usage.Record
	for i := range 3000 {
		h := mix(uint64(i) + 99)
		records = append(records, usage.Record{
			Key:       fmt.Sprintf("msg_%04d", i),
			Timestamp: start.Add(time.Duration(h%(40*86400)) * time.Second),
			Model:     []string{"claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5"}[h%3],
			SessionID: fmt.Sprintf("s%d", h%7),
			Project:   fmt.Sprintf("/p/%d", h%3),
			User:      fmt.Sprintf("u%d", h%2),
			Tokens:    usage.Tokens{Input: int64(h % 1000), Output: int64(h % 40), CacheRead: int64(h % 250000)},
		})
	}
	if err := mem.Apply(t.Context(), usage.Batch{Records: records}); err != nil {
		t.Fatal(err)
	}
	filters := []usage.Filter{
		{},
		{Model: "claude-haiku-4-5"},
		{Project: "/p/2"},
		{SessionID: "s3"},
		{Since: start.Add(5*24*time.Hour + 7*time.Minute), Until: start.Add(37*24*time.Hour + 95*time.Minute)},
		{Since: start.Add(8 * 24 * time.Hour), Until: start.Add(9 * 24 * time.Hour), User: "u1"},
	}
	merged, mergedSessions := false, false
	for _, zone := range []string{"UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Skipf("zone %s: %v", zone, err)
		}
		for _, p := range []usage.Period{usage.Hour, usage.Day, usage.Week, usage.Month} {
			for _, f := range filters {
				quarters, err := sql.Aggregate(t.Context(), f, usage.ByQuarterHour)
				if err != nil {
					t.Fatal(err)
				}
				want := usage.Rollup(quarters, storetest.Prices, p.KeyFunc(loc))
				for name, s := range map[string]*Store{"mirror": mem, "SQL": sql} {
					key := p.KeyFunc(loc)
					got, err := s.AggregatePeriods(t.Context(), f, usage.ByQuarterHour, func(t time.Time) string { return key(&usage.Bucket{Time: t}) })
					if err != nil {
						t.Fatalf("%s AggregatePeriods() = %v", name, err)
					}
					if len(got) < len(quarters) {
						merged = true
					}
					if rep := usage.Rollup(got, storetest.Prices, p.KeyFunc(loc)); !reflect.DeepEqual(rep, want) {
						t.Fatalf("%s, %s by %s, %+v: AggregatePeriods rolls up to\n%+v\nwant\n%+v", name, zone, p, f, rep, want)
					}
				}
				// By session: the same sums per period, session and model.
				label := func(t time.Time) string { return p.Label(t, loc) }
				sessions, err := sql.Aggregate(t.Context(), f, usage.BySessionQuarterHour)
				if err != nil {
					t.Fatal(err)
				}
				wantSessions := bySessionPeriod(sessions, label)
				for name, s := range map[string]*Store{"mirror": mem, "SQL": sql} {
					got, err := s.AggregatePeriods(t.Context(), f, usage.BySessionQuarterHour, label)
					if err != nil {
						t.Fatalf("%s AggregatePeriods(BySessionQuarterHour) = %v", name, err)
					}
					if len(got) < len(sessions) {
						mergedSessions = true
					}
					if sums := bySessionPeriod(got, label); !reflect.DeepEqual(sums, wantSessions) {
						t.Fatalf("%s, %s by %s, %+v: AggregatePeriods by session sums to\n%+v\nwant\n%+v", name, zone, p, f, sums, wantSessions)
					}
				}
			}
		}
	}
	if !merged || !mergedSessions {
		t.Errorf("AggregatePeriods merged quarter hours: %v, of sessions: %v; want both", merged, mergedSessions)
	}
}

// bySessionPeriod sums buckets per label of their Time, session and
// model, as SessionCounts reads them.
func bySessionPeriod(buckets []usage.Bucket, label func(time.Time) string) map[[3]string]usage.Bucket {
	out := map[[3]string]usage.Bucket{}
	for _, b := range buckets {
		k := [3]string{label(b.Time), b.Key, b.Model}
		s, ok := out[k]
		if !ok {
			s = usage.Bucket{Key: b.Key, Model: b.Model, First: b.First, Last: b.Last}
		}
		s.Tokens = s.Tokens.Add(b.Tokens)
		s.Cost = s.Cost.Add(b.Cost)
		s.Entries += b.Entries
		if b.First.Before(s.First) {
			s.First = b.First
		}
		if b.Last.After(s.Last) {
			s.Last = b.Last
		}
		out[k] = s
	}
	return out
}

func TestUvarintsMatchesBinary(t *testing.T) {
	// uvarints reads what binary.Uvarint reads, field after field, and
	// fails where it fails: cut short, too long, or past 64 bits.
	var cases [][]byte
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<32 + 5, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		b := binary.AppendUvarint(nil, v)
		cases = append(cases, b, append(b, 5), b[:len(b)-1])
	}
	cases = append(cases, nil, bytes.Repeat([]byte{0xff}, 10), append(bytes.Repeat([]byte{0xff}, 9), 2),
		append(bytes.Repeat([]byte{0x80}, 9), 1), bytes.Repeat([]byte{0x80}, 11))
	for i := range 2000 {
		h := mix(uint64(i))
		b := make([]byte, h%12)
		for j := range b {
			b[j] = byte(mix(h + uint64(j)))
		}
		cases = append(cases, b)
	}
	for _, b := range cases {
		// Read three fields with binary.Uvarint.
		var want [3]uint64
		rest, ok := b, true
		for k := range want {
			v, n := binary.Uvarint(rest)
			if n <= 0 {
				ok = false
				break
			}
			want[k], rest = v, rest[n:]
		}
		var got [3]uint64
		gotRest, gotOK := uvarints(b, got[:])
		if gotOK != ok || ok && (got != want || !bytes.Equal(gotRest, rest)) {
			t.Fatalf("uvarints(%x) = %v %x %v, want %v %x %v", b, got, gotRest, gotOK, want, rest, ok)
		}
	}
}
