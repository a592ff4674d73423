package postgres

import (
	"context"
	"github.com/claude-token-monitor/ctm/internal/postgres/pgtest"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// transcript returns a pushed transcript record of response n.
func transcript(n string, output int64, d time.Duration) usage.Record {
	return usage.Record{
		Key: usage.RecordKey("msg_"+n, "req_"+n, ""), MessageID: "msg_" + n, RequestID: "req_" + n,
		Timestamp: t0.Add(d), Model: "claude-opus-4-6", SessionID: "s1", Project: "/p/a",
		CWD: "/p/a", GitBranch: "main", User: "ann", Machine: "laptop",
		Tokens: usage.Tokens{Input: 10, Output: output, CacheCreation1h: 100, CacheRead: 1000},
	}
}

// telemetry returns the telemetry copy of response n.
func telemetry(n string, output int64, d time.Duration) usage.Record {
	return usage.Record{
		Key: usage.TelemetryKeyPrefix + "req_" + n, RequestID: "req_" + n,
		Timestamp: t0.Add(d), Model: "claude-opus-4-6", SessionID: "s1", User: "ann",
		Tokens: usage.Tokens{Input: 10, Output: output, CacheCreation5m: 100, CacheRead: 1000},
	}
}

func apply(t *testing.T, s *Store, rs ...usage.Record) {
	t.Helper()
	if err := s.Apply(t.Context(), usage.Batch{Records: rs}); err != nil {
		t.Fatalf("Apply(%d records) = %v", len(rs), err)
	}
}

func all(t *testing.T, s *Store) []usage.Record {
	t.Helper()
	rs, err := s.Records(t.Context(), usage.Filter{}, usage.Page{})
	if err != nil {
		t.Fatalf("Records() = %v", err)
	}
	return rs
}

func TestTranscriptSupersedesTelemetry(t *testing.T) {
	s := mustOpen(t)
	tr, tel := transcript("1", 50, 0), telemetry("1", 50, 2*time.Second)
	// A transcript copy replaces the telemetry copy of its request in any
	// order, even a stale one with less output: later pushes bring the
	// final count, and only the transcript knows project and cache split.
	stale := transcript("2", 10, 0)
	final := telemetry("2", 60, time.Second)
	// One request id with two message ids is two responses (the real
	// corpus has one); its telemetry copy goes.
	splitA, splitB := transcript("5", 7, 0), transcript("5", 8, 0)
	splitB.MessageID, splitB.Key = "msg_5b", usage.RecordKey("msg_5b", "req_5", "")
	for _, tc := range []struct {
		name    string
		batches [][]usage.Record
		want    []usage.Record
	}{
		{"TranscriptFirst", [][]usage.Record{{tr}, {tel}}, []usage.Record{tr}},
		{"TelemetryFirst", [][]usage.Record{{tel}, {tr}}, []usage.Record{tr}},
		{"OneBatch", [][]usage.Record{{tel, tr}}, []usage.Record{tr}},
		{"StaleTranscriptStillWins", [][]usage.Record{{final}, {stale}}, []usage.Record{stale}},
		{"TelemetryOnly", [][]usage.Record{{final}}, []usage.Record{final}},
		{"SplitRequest", [][]usage.Record{{telemetry("5", 15, 0)}, {splitA, splitB}}, []usage.Record{splitA, splitB}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t)
			for _, b := range tc.batches {
				apply(t, s, b...)
			}
			got := all(t, s)
			if len(got) != len(tc.want) {
				t.Fatalf("Records() = %+v, want %+v", got, tc.want)
			}
			keys := map[string]usage.Record{}
			for _, r := range got {
				keys[r.Key] = r
			}
			for _, w := range tc.want {
				w.Cost, _ = storetest.Prices.Price(&w)
				if keys[w.Key] != w {
					t.Errorf("Records() = %+v, want %+v", got, tc.want)
				}
			}
		})
	}
	// Records without a request id, or keyed by line, never merge.
	a := transcript("3", 5, 0)
	a.RequestID, a.Key = "", usage.RecordKey("msg_3", "", "")
	b := telemetry("3", 5, 0)
	b.RequestID, b.Key = "", "otel:s1:1:1"
	c := transcript("4", 5, 0)
	c.MessageID, c.Key = "", usage.RecordKey("", "req_4", "uuid-c")
	d := telemetry("4", 5, 0)
	d.RequestID, d.Key = "", "otel:s1:2:1"
	apply(t, s, a, b, c, d)
	if n := len(all(t, s)); n != 4 {
		t.Errorf("records without a shared request id: %d stored, want 4", n)
	}
}

func TestApplyErrors(t *testing.T) {
	s := mustOpen(t)
	good := transcript("1", 5, 0)
	for _, tc := range []struct {
		name string
		b    usage.Batch
		code string
	}{
		{"NUL", usage.Batch{Records: []usage.Record{good, func() usage.Record { r := transcript("2", 1, 0); r.Project = "a\x00b"; return r }()}}, usage.EINVALID},
		{"BadUTF8", usage.Batch{Records: []usage.Record{func() usage.Record { r := transcript("2", 1, 0); r.Model = "\xff"; return r }()}}, usage.EINVALID},
		{"Year10000", usage.Batch{Records: []usage.Record{func() usage.Record {
			r := transcript("2", 1, 0)
			r.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			return r
		}()}}, usage.EINVALID},
		{"FilePathNUL", usage.Batch{Files: []usage.FileState{{Path: "a\x00"}}}, usage.EINVALID},
	} {
		err := s.Apply(t.Context(), tc.b)
		if got := usage.ErrorCode(err); got != tc.code {
			t.Errorf("Apply(%s) = %v (code %q), want code %q", tc.name, err, got, tc.code)
		}
	}
	if n := len(all(t, s)); n != 0 {
		t.Errorf("after failed batches, %d records stored, want none", n)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{"", "   ", "postgres://%zz"} {
		if _, err := Open(t.Context(), dsn, storetest.Prices); usage.ErrorCode(err) != usage.EINVALID {
			t.Errorf("Open(%q) = %v, want EINVALID", dsn, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", storetest.Prices); err == nil {
		t.Errorf("Open(unreachable) = nil error")
	}
}

func TestMigrationsAppliedOnce(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	s1 := mustOpenDSN(t, dsn)
	apply(t, s1, transcript("1", 5, 0))
	// Two servers starting at once on an existing database.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { mustOpenDSN(t, dsn) })
	}
	wg.Wait()
	var names []string
	rows, err := s1.pool.Query(t.Context(), `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	want, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, ","); got != strings.Join(want, ",") {
		t.Errorf("applied migrations = %v, want each of %v once", names, want)
	}
	if n := len(all(t, s1)); n != 1 {
		t.Errorf("records after reopening = %d, want 1", n)
	}
}

func TestTokens(t *testing.T) {
	s := mustOpen(t)
	tok, err := s.CreateToken(t.Context(), "ann@example.com")
	if err != nil {
		t.Fatalf("CreateToken() = %v", err)
	}
	if !strings.HasPrefix(tok, "ctm_") || len(tok) != len("ctm_")+43 {
		t.Errorf("token %q, want ctm_ and 43 base64url characters", tok)
	}
	tok2, err := s.CreateToken(t.Context(), "ann@example.com")
	if err != nil || tok2 == tok {
		t.Fatalf("second CreateToken() = %q, %v; want a different token", tok2, err)
	}
	bobTok, _ := s.CreateToken(t.Context(), "bob")
	for _, tc := range []struct{ token, want, code string }{
		{tok, "ann@example.com", ""},
		{tok2, "ann@example.com", ""},
		{bobTok, "bob", ""},
		{tok + "x", "", usage.EUNAUTHORIZED},
		{tok[:len(tok)-1], "", usage.EUNAUTHORIZED},
		{"", "", usage.EUNAUTHORIZED},
	} {
		got, err := s.UserForToken(t.Context(), tc.token)
		if got != tc.want || usage.ErrorCode(err) != tc.code {
			t.Errorf("UserForToken(%q) = %q, %v; want %q, code %q", tc.token, got, err, tc.want, tc.code)
		}
	}
	// Only the hash is stored.
	var n int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM tokens WHERE position($1::bytea in hash) > 0`, []byte(tok)).Scan(&n); err != nil || n != 0 {
		t.Errorf("the plaintext token is in the tokens table (%d rows, %v)", n, err)
	}
	for _, bad := range []string{"", " ann", "a\nb", strings.Repeat("x", 201)} {
		if _, err := s.CreateToken(t.Context(), bad); usage.ErrorCode(err) != usage.EINVALID {
			t.Errorf("CreateToken(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestUsers(t *testing.T) {
	s := mustOpen(t)
	if us, err := s.Users(t.Context()); err != nil || len(us) != 0 {
		t.Fatalf("Users() on an empty store = %+v, %v; want none", us, err)
	}
	s.CreateToken(t.Context(), "carol") // a token, no records yet
	a1 := transcript("1", 5, 0)
	a2 := transcript("2", 7, time.Hour)
	a2.Machine = "desktop"
	b1 := transcript("3", 11, 30*time.Minute)
	b1.User, b1.Machine = "bob", ""
	apply(t, s, a1, a2, b1)
	got, err := s.Users(t.Context())
	if err != nil {
		t.Fatalf("Users() = %v", err)
	}
	want := []usage.UserTotals{
		{User: "ann", Tokens: a1.Tokens.Add(a2.Tokens), Entries: 2, Machines: []string{"desktop", "laptop"}, First: a1.Timestamp, Last: a2.Timestamp},
		{User: "bob", Tokens: b1.Tokens, Entries: 1, Machines: []string{}, First: b1.Timestamp, Last: b1.Timestamp},
		{User: "carol", Machines: []string{}, TokenCount: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("Users() = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.User != w.User || g.Tokens != w.Tokens || g.Entries != w.Entries || g.TokenCount != w.TokenCount ||
			strings.Join(g.Machines, ",") != strings.Join(w.Machines, ",") || !g.First.Equal(w.First) || !g.Last.Equal(w.Last) {
			t.Errorf("Users()[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestConcurrentOverlappingApply(t *testing.T) {
	// Writers applying overlapping batches in different orders must
	// neither deadlock nor lose or double a record.
	s := mustOpen(t)
	var rs []usage.Record
	for i := range 500 {
		rs = append(rs, transcript(strings.Repeat("k", 1+i%3)+string(rune('a'+i%26))+time.Duration(i).String(), int64(i), time.Duration(i)*time.Second))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			b := make([]usage.Record, len(rs))
			for i := range rs {
				b[i] = rs[(i*7+w*131)%len(rs)] // a different order per writer
			}
			errs <- s.Apply(context.Background(), usage.Batch{Records: b})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Apply() = %v", err)
		}
	}
	var want usage.Tokens
	for _, r := range rs {
		want = want.Add(r.Tokens)
	}
	bs, err := s.Aggregate(t.Context(), usage.Filter{}, usage.ByNothing)
	if err != nil {
		t.Fatal(err)
	}
	var got usage.Tokens
	var n int64
	for _, b := range bs {
		got, n = got.Add(b.Tokens), n+b.Entries
	}
	if got != want || n != int64(len(rs)) {
		t.Errorf("totals = %+v over %d, want %+v over %d", got, n, want, len(rs))
	}
}

func TestErrorsAreReturned(t *testing.T) {
	// With its tables gone, and once closed, every method fails cleanly
	// instead of panicking or hanging.
	for _, tc := range []struct {
		name       string
		breakStore func(t *testing.T, s *Store)
	}{
		{"TablesDropped", func(t *testing.T, s *Store) {
			if _, err := s.pool.Exec(t.Context(), `DROP TABLE records, files, snapshot_models, snapshots, tokens`); err != nil {
				t.Fatal(err)
			}
		}},
		{"Closed", func(t *testing.T, s *Store) { s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t)
			tc.breakStore(t, s)
			ctx := t.Context()
			checks := map[string]error{}
			checks["Apply"] = s.Apply(ctx, usage.Batch{Records: []usage.Record{transcript("1", 1, 0)}})
			checks["ApplyFiles"] = s.Apply(ctx, usage.Batch{Files: []usage.FileState{{Path: "/a"}}})
			_, checks["FileStates"] = s.FileStates(ctx)
			_, checks["Aggregate"] = s.Aggregate(ctx, usage.Filter{}, usage.BySession)
			_, checks["Records"] = s.Records(ctx, usage.Filter{}, usage.Page{})
			_, checks["CountRecords"] = s.CountRecords(ctx, usage.Filter{})
			_, checks["LatestTimestamp"] = s.LatestTimestamp(ctx)
			_, checks["SaveSnapshot"] = s.SaveSnapshot(ctx, usage.Snapshot{Models: []usage.SnapshotModel{{Model: "m"}}})
			_, _, checks["Snapshots"] = s.Snapshots(ctx, t0, t0.Add(time.Hour), usage.Page{})
			_, checks["PruneSnapshots"] = s.PruneSnapshots(ctx, t0)
			_, checks["CreateToken"] = s.CreateToken(ctx, "ann")
			_, checks["UserForToken"] = s.UserForToken(ctx, "ctm_x")
			_, checks["Users"] = s.Users(ctx)
			for name, err := range checks {
				if err == nil {
					t.Errorf("%s() = nil error, want an error", name)
				} else if code := usage.ErrorCode(err); code != usage.EINTERNAL {
					t.Errorf("%s() = %v (code %q), want an internal error", name, err, code)
				}
			}
			if _, _, err := s.Snapshots(ctx, time.Time{}, time.Time{}, usage.Page{Offset: -1}); usage.ErrorCode(err) != usage.EINVALID {
				t.Errorf("Snapshots(negative offset) = %v, want EINVALID", err)
			}
		})
	}
}

func TestMigrationFailureIsReported(t *testing.T) {
	// A database where the first migration's table already exists, but
	// unrecorded: Open must fail naming the migration, not carry on.
	dsn := pgtest.FreshSchema(t)
	s := mustOpenDSN(t, dsn)
	if _, err := s.pool.Exec(t.Context(), `DELETE FROM schema_migrations`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dsn, storetest.Prices)
	if err == nil || !strings.Contains(err.Error(), "0001_init.sql") {
		t.Errorf("Open() over a half-migrated database = %v, want an error naming the migration", err)
	}
}
