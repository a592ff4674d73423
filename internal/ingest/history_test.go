package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadHistoryRealFiles(t *testing.T) {
	shared := sharedTestdata(t)
	for _, tc := range []struct {
		path                     string
		entries, pasted, withSID int
	}{
		{filepath.Join(shared, "claude-real", "history.jsonl"), 3756, 129, 3756},
		{filepath.Join(shared, "history", "AutoFor-dotfiles-history.jsonl"), 448, 14, 231},
		{filepath.Join("testdata", "history.jsonl"), 4, 0, 4},
	} {
		f, err := os.Open(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		entries, bad, err := ReadHistory(f)
		f.Close()
		if err != nil || bad != 0 {
			t.Fatalf("%s: ReadHistory = %d entries, %d bad, %v", tc.path, len(entries), bad, err)
		}
		pasted, withSID := 0, 0
		for _, e := range entries {
			pasted += e.PastedContents
			if e.SessionID != "" {
				withSID++
			}
			if e.Timestamp.Year() < 2025 || e.Project == "" {
				t.Errorf("%s: entry %+v", tc.path, e)
			}
		}
		if len(entries) != tc.entries || pasted != tc.pasted || withSID != tc.withSID {
			t.Errorf("%s: %d entries, %d pasted, %d with session; want %d, %d, %d", tc.path, len(entries), pasted, withSID, tc.entries, tc.pasted, tc.withSID)
		}
	}
}

func TestReadHistoryFirstEntry(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, _, err := ReadHistory(f)
	if err != nil {
		t.Fatal(err)
	}
	e := entries[0]
	if e.Display != "claude --help" || !e.Timestamp.Equal(time.UnixMilli(1770860180692)) || e.Project != "/Users/tachikawa_eiji" ||
		e.SessionID != "f6f74d81-53c9-4e7e-83d2-afea990583ac" {
		t.Errorf("first entry = %+v", e)
	}
}

func TestReadHistoryBadLines(t *testing.T) {
	long := strings.Repeat("y", 3<<20)
	in := strings.Join([]string{
		`{"display":"a","pastedContents":{"1":{"id":1},"2":{"id":2}},"timestamp":1770860180692,"project":"/p"}`,
		`garbage`,
		`{"display":"no time","project":"/p"}`,
		``,
		`{"display":"iso","pastedContents":[{}],"timestamp":"2026-01-02T03:04:05Z","project":"/p","extra":[1]}`,
		`{"display":"` + long + `","timestamp":1,"project":"/p"}`,
		"\xff\xfe{",
		`{"display":"torn","timest`,
	}, "\n")
	entries, bad, err := ReadHistory(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || bad != 3 {
		t.Fatalf("ReadHistory = %d entries, %d bad; want 3, 3", len(entries), bad)
	}
	if entries[0].PastedContents != 2 || entries[1].PastedContents != 1 || !entries[1].Timestamp.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) ||
		len(entries[2].Display) != len(long) {
		t.Errorf("entries = %+v", entries[:2])
	}
}
