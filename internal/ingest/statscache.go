package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// ErrStatsCachePartial is wrapped by the errors of a stats-cache.json that
// is empty or not complete JSON, as a read sees it while Claude Code
// rewrites the file in place.
var ErrStatsCachePartial = errors.New("stats cache is partial or not valid JSON")

// statsCacheFile is stats-cache.json as Claude Code writes it (versions 1,
// 2 and 5 share this shape). Unknown members are ignored.
type statsCacheFile struct {
	Version          int    `json:"version"`
	LastComputedDate string `json:"lastComputedDate"`
	DailyActivity    []struct {
		Date          string `json:"date"`
		MessageCount  int64  `json:"messageCount"`
		SessionCount  int64  `json:"sessionCount"`
		ToolCallCount int64  `json:"toolCallCount"`
	} `json:"dailyActivity"`
	DailyModelTokens []struct {
		Date          string           `json:"date"`
		TokensByModel map[string]int64 `json:"tokensByModel"`
	} `json:"dailyModelTokens"`
	DailyModelTokensVersion int `json:"dailyModelTokensVersion"`
	ModelUsage              map[string]struct {
		InputTokens              int64   `json:"inputTokens"`
		OutputTokens             int64   `json:"outputTokens"`
		CacheReadInputTokens     int64   `json:"cacheReadInputTokens"`
		CacheCreationInputTokens int64   `json:"cacheCreationInputTokens"`
		WebSearchRequests        int64   `json:"webSearchRequests"`
		CostUSD                  float64 `json:"costUSD"`
		ContextWindow            int64   `json:"contextWindow"`
		MaxOutputTokens          int64   `json:"maxOutputTokens"`
	} `json:"modelUsage"`
	TotalSessions  int64 `json:"totalSessions"`
	TotalMessages  int64 `json:"totalMessages"`
	LongestSession *struct {
		SessionID    string    `json:"sessionId"`
		Duration     int64     `json:"duration"`
		MessageCount int64     `json:"messageCount"`
		Timestamp    time.Time `json:"timestamp"`
	} `json:"longestSession"`
	FirstSessionDate            string           `json:"firstSessionDate"`
	HourCounts                  map[string]int64 `json:"hourCounts"`
	TotalSpeculationTimeSavedMs int64            `json:"totalSpeculationTimeSavedMs"`
}

// ParseStatsCache decodes the contents of a stats-cache.json. Input that is
// empty or cut short returns an error wrapping ErrStatsCachePartial; a
// complete document of the wrong shape returns another error.
func ParseStatsCache(data []byte) (*usage.StatsCache, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrStatsCachePartial)
	}
	if !json.Valid(trimmed) {
		// Report where it breaks, which tells a cut-short file (the
		// end) from a corrupt one.
		var syn *json.SyntaxError
		if err := json.Unmarshal(trimmed, new(any)); errors.As(err, &syn) {
			return nil, fmt.Errorf("%w: %v at byte %d of %d", ErrStatsCachePartial, syn, syn.Offset, len(data))
		}
		return nil, ErrStatsCachePartial
	}
	if trimmed[0] != '{' {
		return nil, errors.New("stats cache is not a JSON object")
	}
	var f statsCacheFile
	if err := json.Unmarshal(trimmed, &f); err != nil {
		return nil, fmt.Errorf("decode stats cache: %w", err)
	}
	sc := &usage.StatsCache{
		Version:                     f.Version,
		LastComputedDate:            f.LastComputedDate,
		DailyActivity:               make([]usage.DailyActivity, 0, len(f.DailyActivity)),
		DailyModelTokens:            make([]usage.DailyModelTokens, 0, len(f.DailyModelTokens)),
		DailyModelTokensVersion:     f.DailyModelTokensVersion,
		ModelUsage:                  make(map[string]usage.ModelUsage, len(f.ModelUsage)),
		TotalSessions:               f.TotalSessions,
		TotalMessages:               f.TotalMessages,
		FirstSessionDate:            f.FirstSessionDate,
		HourCounts:                  f.HourCounts,
		TotalSpeculationTimeSavedMs: f.TotalSpeculationTimeSavedMs,
	}
	if sc.HourCounts == nil {
		sc.HourCounts = map[string]int64{}
	}
	for _, d := range f.DailyActivity {
		sc.DailyActivity = append(sc.DailyActivity, usage.DailyActivity{
			Date: d.Date, MessageCount: d.MessageCount, SessionCount: d.SessionCount, ToolCallCount: d.ToolCallCount,
		})
	}
	for _, d := range f.DailyModelTokens {
		byModel := d.TokensByModel
		if byModel == nil {
			byModel = map[string]int64{}
		}
		sc.DailyModelTokens = append(sc.DailyModelTokens, usage.DailyModelTokens{Date: d.Date, TokensByModel: byModel})
	}
	for model, m := range f.ModelUsage {
		sc.ModelUsage[model] = usage.ModelUsage{
			InputTokens: m.InputTokens, OutputTokens: m.OutputTokens,
			CacheReadInputTokens: m.CacheReadInputTokens, CacheCreationInputTokens: m.CacheCreationInputTokens,
			WebSearchRequests: m.WebSearchRequests, CostUSD: m.CostUSD,
			ContextWindow: m.ContextWindow, MaxOutputTokens: m.MaxOutputTokens,
		}
	}
	if ls := f.LongestSession; ls != nil {
		sc.LongestSession = &usage.SessionInfo{
			SessionID: ls.SessionID, DurationMs: ls.Duration, MessageCount: ls.MessageCount, Timestamp: ls.Timestamp,
		}
	}
	return sc, nil
}

// ReadStatsCache reads and decodes the stats-cache.json at path.
func ReadStatsCache(path string) (*usage.StatsCache, error) {
	data, err := readRegular(path)
	if err != nil {
		return nil, fmt.Errorf("read stats cache: %w", err)
	}
	sc, err := ParseStatsCache(data)
	if err != nil {
		return nil, fmt.Errorf("read stats cache %q: %w", path, err)
	}
	return sc, nil
}

// StatsCacheReader reads one stats-cache.json and keeps the last good copy,
// so that a read during Claude Code's in-place rewrite still has something
// to show. It re-reads the file only when its size or mtime change. It is
// safe for concurrent use.
type StatsCacheReader struct {
	path string

	mu   sync.Mutex
	last *usage.StatsCache
	// size and modTime identify the file last read, good or bad; err is
	// what reading it gave.
	size    int64
	modTime time.Time
	err     error
	read    bool
}

// NewStatsCacheReader returns a reader of the stats-cache.json at path.
func NewStatsCacheReader(path string) *StatsCacheReader {
	return &StatsCacheReader{path: path}
}

// Path returns the file the reader reads.
func (r *StatsCacheReader) Path() string { return r.path }

// Read returns the stats cache. When the file reads and decodes, fresh is
// true and err nil. Otherwise err says why (wrapping ErrStatsCachePartial
// for a partial file, fs.ErrNotExist for a missing one) and sc is the last
// good copy, or nil if there never was one; callers report that as
// degraded. The returned value is shared: callers must not modify it.
func (r *StatsCacheReader) Read() (sc *usage.StatsCache, fresh bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.path)
	if err != nil {
		r.read = false
		return r.last, false, fmt.Errorf("read stats cache: %w", err)
	}
	if !r.read || fi.Size() != r.size || !fi.ModTime().Equal(r.modTime) {
		r.read, r.size, r.modTime = true, fi.Size(), fi.ModTime()
		var got *usage.StatsCache
		if got, r.err = ReadStatsCache(r.path); r.err == nil {
			r.last = got
		}
	}
	return r.last, r.err == nil, r.err
}
