package usage

import "time"

// StatsCache is Claude Code's own /stats cache (stats-cache.json), served as
// its own view: it does not reconcile with transcripts. Versions 1, 2 and 5
// share this shape; unknown fields are ignored.
type StatsCache struct {
	Version                 int                   `json:"version"`
	LastComputedDate        string                `json:"last_computed_date"`
	DailyActivity           []DailyActivity       `json:"daily_activity"`
	DailyModelTokens        []DailyModelTokens    `json:"daily_model_tokens"`
	DailyModelTokensVersion int                   `json:"daily_model_tokens_version,omitempty"`
	ModelUsage              map[string]ModelUsage `json:"model_usage"`
	TotalSessions           int64                 `json:"total_sessions"`
	TotalMessages           int64                 `json:"total_messages"`
	LongestSession          *SessionInfo          `json:"longest_session,omitempty"`
	FirstSessionDate        string                `json:"first_session_date,omitempty"`
	// HourCounts counts sessions started per hour of day, "0".."23".
	HourCounts                  map[string]int64 `json:"hour_counts"`
	TotalSpeculationTimeSavedMs int64            `json:"total_speculation_time_saved_ms,omitempty"`
}

// DailyActivity is one day of stats-cache activity counts.
type DailyActivity struct {
	Date          string `json:"date"`
	MessageCount  int64  `json:"message_count"`
	SessionCount  int64  `json:"session_count"`
	ToolCallCount int64  `json:"tool_call_count"`
}

// DailyModelTokens is one day of stats-cache tokens per model. Before
// dailyModelTokensVersion 5 the counts are input + output only.
type DailyModelTokens struct {
	Date          string           `json:"date"`
	TokensByModel map[string]int64 `json:"tokens_by_model"`
}

// ModelUsage is the stats-cache all-time usage of one model.
type ModelUsage struct {
	InputTokens              int64   `json:"input_tokens"`
	OutputTokens             int64   `json:"output_tokens"`
	CacheReadInputTokens     int64   `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64   `json:"cache_creation_input_tokens"`
	WebSearchRequests        int64   `json:"web_search_requests"`
	CostUSD                  float64 `json:"cost_usd"`
	ContextWindow            int64   `json:"context_window"`
	MaxOutputTokens          int64   `json:"max_output_tokens,omitempty"`
}

// SessionInfo describes one session: the stats-cache longest session, or a
// session summarised from records.
type SessionInfo struct {
	SessionID    string    `json:"session_id"`
	DurationMs   int64     `json:"duration_ms,omitempty"`
	MessageCount int64     `json:"message_count,omitempty"`
	Timestamp    time.Time `json:"timestamp,omitzero"`
}
