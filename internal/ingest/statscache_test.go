package ingest

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParseStatsCacheRealFiles(t *testing.T) {
	shared := sharedTestdata(t)
	for _, tc := range []struct {
		path                   string
		version, days          int
		sessions, messages     int64
		models                 []string
		longestID              string
		longestMs, longestMsgs int64
	}{
		{"stats-cache/1.json", 2, 25, 354, 9412, []string{"claude-opus-4-5-20251101", "claude-opus-4-6", "claude-sonnet-4-5-20250929"}, "b60ef969-8805-4d8f-9ea4-ae6a5ed0674e", 1991197012, 341},
		{"stats-cache/2.json", 2, 2, 6, 647, []string{"claude-opus-4-6", "claude-sonnet-4-5-20250929"}, "3f9394bc-70f6-4f13-94dc-ed96be3799eb", 61918289, 327},
		{"stats-cache/3.json", 2, 3, 14, 5652, []string{"claude-opus-4-5-20251101", "claude-opus-4-6"}, "9ec1038b-acb1-402d-af2c-e690a1c7f06a", 39507052, 941},
		{"stats-cache/4.json", 1, 44, 573, 276367, []string{"claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929"}, "a6fa0903-4017-4108-aebd-f9837d0d92d3", 145644775, 2350},
		{"stats-cache/5.json", 1, 30, 369, 65220, []string{"claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929"}, "4d7ffb7b-318c-4193-953d-65462dbdad4b", 307905074, 964},
		{"claude-real/stats-cache.json", 2, 35, 1454, 118745, []string{"claude-opus-4-5-20251101", "claude-opus-4-6", "claude-sonnet-4-5-20250929"}, "", 0, 0},
	} {
		t.Run(tc.path, func(t *testing.T) {
			sc, err := ReadStatsCache(filepath.Join(shared, tc.path))
			if err != nil {
				t.Fatal(err)
			}
			if sc.Version != tc.version || len(sc.DailyActivity) != tc.days || len(sc.DailyModelTokens) == 0 ||
				sc.TotalSessions != tc.sessions || sc.TotalMessages != tc.messages || len(sc.HourCounts) == 0 {
				t.Errorf("got version %d, %d days, %d sessions, %d messages, %d token days, %d hours",
					sc.Version, len(sc.DailyActivity), sc.TotalSessions, sc.TotalMessages, len(sc.DailyModelTokens), len(sc.HourCounts))
			}
			if got := slices.Sorted(maps.Keys(sc.ModelUsage)); !slices.Equal(got, tc.models) {
				t.Errorf("models = %v, want %v", got, tc.models)
			}
			if tc.longestID != "" {
				ls := sc.LongestSession
				if ls == nil || ls.SessionID != tc.longestID || ls.DurationMs != tc.longestMs || ls.MessageCount != tc.longestMsgs || ls.Timestamp.IsZero() {
					t.Errorf("longest session = %+v", ls)
				}
			}
			for _, d := range sc.DailyActivity {
				if _, err := time.Parse(time.DateOnly, d.Date); err != nil || d.MessageCount <= 0 {
					t.Errorf("daily activity %+v", d)
				}
			}
			for model, m := range sc.ModelUsage {
				if m.InputTokens+m.OutputTokens+m.CacheReadInputTokens+m.CacheCreationInputTokens == 0 {
					t.Errorf("model %s has no tokens: %+v", model, m)
				}
			}
		})
	}
}

func TestParseStatsCacheFixtures(t *testing.T) {
	v1, err := ReadStatsCache(filepath.Join("testdata", "stats-cache-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	opus := v1.ModelUsage["claude-opus-4-5-20251101"]
	if v1.Version != 1 || opus.OutputTokens == 0 || opus.MaxOutputTokens != 0 || v1.TotalSpeculationTimeSavedMs != 0 {
		t.Errorf("v1 = version %d, opus %+v", v1.Version, opus)
	}
	v2, err := ReadStatsCache(filepath.Join("testdata", "stats-cache-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != 2 || v2.FirstSessionDate != "2026-02-12T01:05:32.326Z" || v2.LastComputedDate != "2026-02-13" {
		t.Errorf("v2 = %+v", v2)
	}

	_, err = ReadStatsCache(filepath.Join("testdata", "stats-cache-truncated.json"))
	if !errors.Is(err, ErrStatsCachePartial) {
		t.Errorf("truncated: err = %v, want ErrStatsCachePartial", err)
	}
	if _, err := ReadStatsCache(filepath.Join("testdata", "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: err = %v, want fs.ErrNotExist", err)
	}
}

func TestParseStatsCacheVersion5(t *testing.T) {
	// Hand-written in the documented shape: version 5 counts every token
	// kind per day and says so in dailyModelTokensVersion.
	sc, err := ParseStatsCache([]byte(`{"version":5,"lastComputedDate":"2026-03-01","dailyModelTokensVersion":5,
		"dailyActivity":[{"date":"2026-03-01","messageCount":3,"sessionCount":1,"toolCallCount":2}],
		"dailyModelTokens":[{"date":"2026-03-01","tokensByModel":{"claude-opus-4-6":1234}}],
		"modelUsage":{"claude-opus-4-6":{"inputTokens":1,"outputTokens":2,"cacheReadInputTokens":3,"cacheCreationInputTokens":4,"webSearchRequests":5,"costUSD":0.5,"contextWindow":200000,"maxOutputTokens":64000}},
		"totalSessions":1,"totalMessages":3,"hourCounts":{"9":1},"someFutureField":{"x":[1,2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := sc.ModelUsage["claude-opus-4-6"]
	if sc.Version != 5 || sc.DailyModelTokensVersion != 5 || sc.DailyModelTokens[0].TokensByModel["claude-opus-4-6"] != 1234 ||
		m.WebSearchRequests != 5 || m.CostUSD != 0.5 || m.ContextWindow != 200000 || m.MaxOutputTokens != 64000 ||
		sc.HourCounts["9"] != 1 || sc.LongestSession != nil {
		t.Errorf("got %+v", sc)
	}
}

func TestParseStatsCacheBadInput(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "stats-cache-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Every cut of the file is partial, never a panic or a silent success.
	for n := 0; n < len(full)-2; n += 7 {
		if _, err := ParseStatsCache(full[:n]); !errors.Is(err, ErrStatsCachePartial) {
			t.Fatalf("first %d bytes: err = %v, want ErrStatsCachePartial", n, err)
		}
	}
	for _, in := range []string{`[]`, `null`, `"x"`, `{"version":"two"}`, `{"dailyActivity":{}}`} {
		_, err := ParseStatsCache([]byte(in))
		if err == nil || errors.Is(err, ErrStatsCachePartial) {
			t.Errorf("ParseStatsCache(%s) = %v, want a shape error", in, err)
		}
	}
}

func TestStatsCacheReaderKeepsLastGoodCopy(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "stats-cache-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "stats-cache.json")
	r := NewStatsCacheReader(path)

	if sc, fresh, err := r.Read(); sc != nil || fresh || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no file: Read = %v, %v, %v", sc, fresh, err)
	}
	write := func(b []byte, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		// Distinct mtimes, as file systems with coarse clocks would not
		// guarantee.
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write(good, t0)
	sc, fresh, err := r.Read()
	if err != nil || !fresh || sc.Version != 2 {
		t.Fatalf("good file: Read = %v, %v, %v", sc, fresh, err)
	}
	first := sc

	write(good[:len(good)/2], t0.Add(time.Second))
	sc, fresh, err = r.Read()
	if sc != first || fresh || !errors.Is(err, ErrStatsCachePartial) {
		t.Fatalf("partial file: Read = %p, %v, %v; want the last good copy %p, not fresh, ErrStatsCachePartial", sc, fresh, err, first)
	}
	// Unchanged partial file: same answer without re-reading.
	if sc2, fresh2, err2 := r.Read(); sc2 != first || fresh2 || !errors.Is(err2, ErrStatsCachePartial) {
		t.Fatalf("partial file again: Read = %p, %v, %v", sc2, fresh2, err2)
	}

	write(good, t0.Add(2*time.Second))
	if sc, fresh, err = r.Read(); err != nil || !fresh || sc == first {
		t.Fatalf("rewritten file: Read = %p, %v, %v, want a fresh copy", sc, fresh, err)
	}
	again, fresh, err := r.Read()
	if again != sc || !fresh || err != nil {
		t.Errorf("unchanged file: Read = %p, %v, %v, want the cached copy %p", again, fresh, err, sc)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got, fresh, err := r.Read(); got != sc || fresh || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed file: Read = %p, %v, %v, want last good copy and fs.ErrNotExist", got, fresh, err)
	}
}
