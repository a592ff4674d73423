package sqlite

import (
	"context"
	"fmt"
	"hash/fnv"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestKeyHashIsFNV1a: key_hash is stored, so its function may never
// change; the published FNV-1a test vectors pin it.
func TestKeyHashIsFNV1a(t *testing.T) {
	for s, want := range map[string]uint64{
		"":       0xcbf29ce484222325,
		"a":      0xaf63dc4c8601ec8c,
		"foobar": 0x85944171f73967e8,
	} {
		if got := uint64(fnv1a(s)); got != want {
			t.Errorf("fnv1a(%q) = %#x, want %#x", s, got, want)
		}
	}
}

// collide makes every key of the test share a hash, so that finding a
// record rests on its key alone.
func collide(t *testing.T) {
	t.Helper()
	keyHash = func(string) int64 { return 42 }
	t.Cleanup(func() { keyHash = fnv1a })
}

// TestStoreWhenKeysCollide: the contract suite holds when every key has
// one hash, through Apply and through the bulk path of a first index.
func TestStoreWhenKeysCollide(t *testing.T) {
	collide(t)
	t.Run("apply", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) usage.Store { return mustOpen(t, tempPath(t)) })
	})
	t.Run("bulk", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) usage.Store { return bulkFirst{mustOpen(t, tempPath(t))} })
	})
}

// TestCollidingKeysStayApart: two keys with one hash are two records, a
// preferred copy of one replaces that one only, and the rollup follows.
func TestCollidingKeysStayApart(t *testing.T) {
	collide(t)
	ctx := t.Context()
	for _, first := range []string{"apply", "bulk"} {
		t.Run(first, func(t *testing.T) {
			var s usage.Store = mustOpen(t, tempPath(t))
			if first == "bulk" {
				s = bulkFirst{s.(*Store)}
			}
			recs := testRecords(3, day, "m")
			if err := s.Apply(ctx, usage.Batch{Records: slices.Clone(recs)}); err != nil {
				t.Fatal(err)
			}
			better := recs[1]
			better.Output += 1000
			if err := s.Apply(ctx, usage.Batch{Records: []usage.Record{better, recs[0]}}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Records(ctx, usage.Filter{}, usage.Page{})
			if err != nil {
				t.Fatal(err)
			}
			outputs := map[string]int64{}
			for _, r := range got {
				outputs[r.Key] = r.Output
			}
			want := map[string]int64{recs[0].Key: recs[0].Output, recs[1].Key: better.Output, recs[2].Key: recs[2].Output}
			if !reflect.DeepEqual(outputs, want) {
				t.Errorf("outputs by key = %v, want %v", outputs, want)
			}
			buckets, err := s.Aggregate(ctx, usage.Filter{}, usage.ByNothing)
			if err != nil {
				t.Fatal(err)
			}
			var entries, output int64
			for _, b := range buckets {
				entries += b.Entries
				output += b.Output
			}
			if entries != 3 || output != recs[0].Output+better.Output+recs[2].Output {
				t.Errorf("aggregate: %d entries, %d output; want 3 and %d", entries, output, recs[0].Output+better.Output+recs[2].Output)
			}
		})
	}
}

// TestKeyHashMigrationKeepsRecords: a database of 0113, whose records
// are found by a unique index of their keys, migrates to key_hash with
// every record, each hash that of its key, and goes on to find its
// records: the same records applied again change nothing, and a preferred
// copy replaces its record.
func TestKeyHashMigrationKeepsRecords(t *testing.T) {
	ctx := t.Context()
	recs := slimRecords()
	ref := mustOpen(t, tempPath(t))
	if err := ref.Apply(ctx, usage.Batch{Records: slices.Clone(recs)}); err != nil {
		t.Fatal(err)
	}
	var prices string
	if err := ref.reader.QueryRow(`SELECT prices FROM generation`).Scan(&prices); err != nil {
		t.Fatal(err)
	}
	// ref's tables as 0113 had them: record_rows without key_hash.
	cols := `id, ` + recordColumns
	copyRows := func(table, cols string) string {
		rows := dump(t, ref, `SELECT `+cols+` FROM `+table)
		var vals []string
		for _, row := range rows {
			var vs []string
			for _, v := range row {
				switch v := v.(type) {
				case int64:
					vs = append(vs, itoa(v))
				case nil:
					vs = append(vs, "NULL")
				case string:
					vs = append(vs, fmt.Sprintf("CAST(x'%x' AS TEXT)", v))
				default:
					t.Fatalf("%s: a %T", table, v)
				}
			}
			vals = append(vals, "("+strings.Join(vs, ", ")+")")
		}
		return `INSERT INTO ` + table + ` (` + cols + `) VALUES ` + strings.Join(vals, ",\n")
	}
	path := tempPath(t)
	migratedBefore(t, path, "migrations/0114",
		`DELETE FROM interned`,
		copyRows("interned", "id, value"),
		copyRows("record_rows", cols),
		copyRows("rollup", sourceColumns),
		fmt.Sprintf(`UPDATE generation SET prices = CAST(x'%x' AS TEXT)`, prices))
	s := mustOpen(t, path)
	// The migrations ran with the statement journal in a file; the
	// writer keeps Apply's in memory.
	var tempStore int
	if err := s.writer.QueryRow(`PRAGMA temp_store`).Scan(&tempStore); err != nil || tempStore != 2 {
		t.Errorf("temp_store after the migrations = %d, %v; want 2 (memory)", tempStore, err)
	}

	for _, row := range dump(t, s, `SELECT key, key_hash FROM record_rows`) {
		if key := row[0].(string); row[1].(int64) != fnv1a(key) {
			t.Errorf("record %q: key_hash %d, want %d", key, row[1], fnv1a(key))
		}
	}
	indexes := dump(t, s, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'record_rows' ORDER BY name`)
	if want := [][]any{{"records_key_hash"}, {"records_session"}, {"records_ts"}}; !reflect.DeepEqual(indexes, want) {
		t.Errorf("indexes of record_rows = %v, want %v", indexes, want)
	}
	sameRecordsAndRollup(t, "migrated", s, ref)
	again := slices.Clone(recs)
	again[3].Output += 500
	for _, st := range []*Store{s, ref} {
		if err := st.Apply(ctx, usage.Batch{Records: slices.Clone(again)}); err != nil {
			t.Fatal(err)
		}
	}
	sameRecordsAndRollup(t, "applied again, one copy preferred", s, ref)
	if n := dump(t, s, `SELECT count(*) FROM record_rows`); n[0][0] != int64(len(recs)) {
		t.Errorf("%v records after applying the same ones again, want %d", n[0][0], len(recs))
	}
}

// TestBulkStoresKeyHashes: a first index through the bulk path stores
// each record's key_hash, which the Apply that follows finds it by.
func TestBulkStoresKeyHashes(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, tempPath(t))
	recs := slimRecords()
	if err := (bulkFirst{s}).Apply(ctx, usage.Batch{Records: slices.Clone(recs)}); err != nil {
		t.Fatal(err)
	}
	rows := dump(t, s, `SELECT key, key_hash FROM record_rows`)
	if len(rows) != len(recs) {
		t.Fatalf("%d records, want %d", len(rows), len(recs))
	}
	for _, row := range rows {
		if key := row[0].(string); row[1].(int64) != fnv1a(key) {
			t.Errorf("record %q: key_hash %d, want %d", key, row[1], fnv1a(key))
		}
	}
}

// TestKeyHashFunction: the SQL function of migration 0114 hashes a key
// as Go does, NUL and non-UTF-8 bytes included, and refuses text.
func TestKeyHashFunction(t *testing.T) {
	s := mustOpen(t, tempPath(t))
	for _, key := range []string{"", "msg_1:req_1", "m\x00x:r", "a\x80\x80:r"} {
		var got int64
		if err := s.writer.QueryRow(`SELECT ctm_key_hash(CAST(? AS BLOB))`, key).Scan(&got); err != nil {
			t.Fatalf("ctm_key_hash(%q): %v", key, err)
		}
		if got != fnv1a(key) {
			t.Errorf("ctm_key_hash(%q) = %d, want %d", key, got, fnv1a(key))
		}
	}
	var got int64
	if err := s.writer.QueryRow(`SELECT ctm_key_hash('msg_1:req_1')`).Scan(&got); err == nil {
		t.Errorf("ctm_key_hash of text = %d, want an error", got)
	}
}

// TestManyKeysShareFewHashes: with more keys than one lookup asks for and
// fewer hashes than keys, every key applied again is found, as records
// and as prompts, whichever chunk of the batch its hash was asked in.
func TestManyKeysShareFewHashes(t *testing.T) {
	keyHash = func(k string) int64 { return fnv1a(k) & 1023 }
	t.Cleanup(func() { keyHash = fnv1a })
	ctx := t.Context()
	recs := testRecords(3000, day, "m")
	prompts := make([]usage.Prompt, len(recs))
	for i, r := range recs {
		prompts[i] = usage.Prompt{Key: r.Key, SessionID: r.SessionID, Project: r.Project, Timestamp: r.Timestamp, Text: "p"}
	}
	for _, first := range []string{"apply", "bulk"} {
		t.Run(first, func(t *testing.T) {
			s := mustOpen(t, tempPath(t))
			var st usage.Store = s
			if first == "bulk" {
				st = bulkFirst{s}
			}
			for range 2 {
				if err := st.Apply(ctx, usage.Batch{Records: slices.Clone(recs), Prompts: slices.Clone(prompts)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, table := range []string{"record_rows", "prompts"} {
				if n := dump(t, s, `SELECT count(*), count(DISTINCT key) FROM `+table); n[0][0] != int64(len(recs)) || n[0][1] != int64(len(recs)) {
					t.Errorf("%s: %v rows of %v keys after applying %d twice", table, n[0][0], n[0][1], len(recs))
				}
			}
		})
	}
}

// TestOpenRepairsKeyHashes: rows that a release before 0114 wrote into a
// migrated database, with key_hash at its default 0, get their hash when
// the database opens, and are found again.
func TestOpenRepairsKeyHashes(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	recs := testRecords(50, day, "m")
	prompts := []usage.Prompt{{Key: "s0:u1", SessionID: "s0", Project: "/p/0", Timestamp: day, Text: "hi"}}
	s, err := Open(ctx, path, storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	if err := (bulkFirst{s}).Apply(ctx, usage.Batch{Records: slices.Clone(recs), Prompts: prompts}); err != nil {
		t.Fatal(err)
	}
	// What the bulk path of such a release leaves.
	for _, table := range []string{"record_rows", "prompts"} {
		if _, err := s.writer.Exec(`UPDATE ` + table + ` SET key_hash = 0`); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path)
	for _, table := range []string{"record_rows", "prompts"} {
		for _, row := range dump(t, s, `SELECT key, key_hash FROM `+table) {
			if key := row[0].(string); row[1].(int64) != fnv1a(key) {
				t.Errorf("%s %q: key_hash %d after the open, want %d", table, key, row[1], fnv1a(key))
			}
		}
	}
	if err := s.Apply(ctx, usage.Batch{Records: slices.Clone(recs), Prompts: prompts}); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"record_rows", "prompts"} {
		if n := dump(t, s, `SELECT count(*) - count(DISTINCT key) FROM `+table); n[0][0] != int64(0) {
			t.Errorf("%s: %v copies stored twice", table, n[0][0])
		}
	}
}

// TestFNV1aIsHashFNV: the hand-written loop sums what hash/fnv does.
func TestFNV1aIsHashFNV(t *testing.T) {
	for _, s := range []string{"", "msg_01000Eyy0isI5IQcx9gKrk5T:req_011CcfksH75g5qvJVqAP", "m\x00x:r", "a\x80\x80:r", strings.Repeat("ü", 100)} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := uint64(fnv1a(s)), h.Sum64(); got != want {
			t.Errorf("fnv1a(%q) = %#x, hash/fnv gives %#x", s, got, want)
		}
	}
}

// rollupRows reads a store's whole rollup, in key order.
const rollupRows = `SELECT * FROM rollup ORDER BY qh, session_id, project, user, model`

// sameRecordsAndRollup reports where the records or the rollup of s
// differ from those of ref.
func sameRecordsAndRollup(t *testing.T, when string, s, ref *Store) {
	t.Helper()
	got, err := s.Records(t.Context(), usage.Filter{}, usage.Page{})
	exp, err2 := ref.Records(t.Context(), usage.Filter{}, usage.Page{})
	if err != nil || err2 != nil || !reflect.DeepEqual(got, exp) {
		t.Errorf("%s: Records() = %v, %v\nwant %v, %v", when, got, err, exp, err2)
	}
	if a, b := dump(t, s, rollupRows), dump(t, ref, rollupRows); !reflect.DeepEqual(a, b) {
		t.Errorf("%s: rollup = %v\nwant %v", when, a, b)
	}
}
