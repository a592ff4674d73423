package sqlite

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestPromptsKeyMigrationKeepsPrompts: a database with prompts from
// before 0112 migrates to the table with a named key index (0112), then
// to one found by key_hash (0115), keeps every prompt byte for byte, and
// goes on keeping the first copy of a key.
func TestPromptsKeyMigrationKeepsPrompts(t *testing.T) {
	ctx := t.Context()
	prompts := []usage.Prompt{
		{Key: "s1:u1", SessionID: "s1", Project: "/p/1", Timestamp: day, Text: "hi"},
		{Key: "s1:u2", SessionID: "s1", Project: "/p/1", Timestamp: day.Add(time.Minute), Text: "more\nlines", User: "alice"},
		{Key: "s2:u1", SessionID: "s2", Project: "/p/ü", Timestamp: day.Add(-time.Hour), Text: "a\x00b\x80", Machine: "laptop"},
		// Bytes that 0115 must hash as Go does (see ctm_key_hash).
		{Key: "s3:u\x00\x80", SessionID: "s3", Project: "/p/1", Timestamp: day, Text: "odd key"},
	}
	q := func(s string) string { return fmt.Sprintf("CAST(x'%x' AS TEXT)", s) }
	var rows []string
	for _, p := range prompts {
		rows = append(rows, "("+strings.Join([]string{q(p.Key), q(p.SessionID), q(p.Project),
			itoa(p.Timestamp.UnixMilli()), q(p.Text), q(p.User), q(p.Machine)}, ", ")+")")
	}
	path := tempPath(t)
	migratedBefore(t, path, "migrations/0112",
		`INSERT INTO prompts (key, session_id, project, ts, text, user, machine) VALUES `+strings.Join(rows, ", "))
	s := mustOpen(t, path)

	ref := mustOpen(t, tempPath(t))
	if err := ref.Apply(ctx, usage.Batch{Prompts: prompts}); err != nil {
		t.Fatal(err)
	}
	compare := func(when string) {
		t.Helper()
		got, err := s.Prompts(ctx, usage.Filter{})
		want, err2 := ref.Prompts(ctx, usage.Filter{})
		if err != nil || err2 != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Prompts() = %v, %v\nwant %v, %v", when, got, err, want, err2)
		}
	}
	compare("after the migration")
	schema := `SELECT type, name, sql FROM sqlite_schema WHERE tbl_name = 'prompts' ORDER BY type, name`
	if a, b := dump(t, s, schema), dump(t, ref, schema); !reflect.DeepEqual(a, b) {
		t.Errorf("schema of prompts = %v\nwant %v", a, b)
	}
	// The key's index is one a Bulk can drop: named, not a constraint's.
	if n := dump(t, s, `SELECT sum(name = 'prompts_key_hash'), sum(sql IS NULL) FROM sqlite_schema
		WHERE tbl_name = 'prompts'`); n[0][0] != int64(1) || n[0][1] != int64(0) {
		t.Errorf("prompts has %v indexes named prompts_key_hash and %v unnamed ones, want 1 and 0", n[0][0], n[0][1])
	}
	for _, row := range dump(t, s, `SELECT key, key_hash FROM prompts`) {
		if key := row[0].(string); row[1].(int64) != fnv1a(key) {
			t.Errorf("prompt %q: key_hash %d, want %d", key, row[1], fnv1a(key))
		}
	}

	// Another copy of a stored key changes nothing; a new key is added.
	again := []usage.Prompt{prompts[1], prompts[3], {Key: "s2:u2", SessionID: "s2", Project: "/p/ü", Timestamp: day, Text: "new"}}
	again[0].Text, again[1].Text = "edited", "edited"
	for _, st := range []*Store{s, ref} {
		if err := st.Apply(ctx, usage.Batch{Prompts: again}); err != nil {
			t.Fatal(err)
		}
	}
	compare("after Apply")
	got, err := s.Prompts(ctx, usage.Filter{})
	if err != nil || len(got) != 5 {
		t.Fatalf("Prompts() = %d prompts, %v; want 5", len(got), err)
	}
	for _, p := range got {
		for _, old := range []usage.Prompt{prompts[1], prompts[3]} {
			if p.Key == old.Key && p.Text != old.Text {
				t.Errorf("prompt %q = %q after a second copy; want the first, %q", p.Key, p.Text, old.Text)
			}
		}
	}
}
