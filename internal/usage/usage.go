// Package usage is the domain of Claude Token Monitor: usage records, the
// aggregates cut from them, the Store that keeps them, and the error codes
// shared by every layer. It performs no I/O.
package usage

import (
	"math"
	"time"
)

// Tokens holds the token counts of one API response or of a sum of them.
// Cache writes are split by lifetime because they are priced differently.
type Tokens struct {
	Input             int64 `json:"input_tokens"`
	Output            int64 `json:"output_tokens"`
	CacheCreation5m   int64 `json:"cache_creation_5m_tokens"`
	CacheCreation1h   int64 `json:"cache_creation_1h_tokens"`
	CacheRead         int64 `json:"cache_read_tokens"`
	WebSearchRequests int64 `json:"web_search_requests"`
	WebFetchRequests  int64 `json:"web_fetch_requests"`
}

// CacheCreation returns all cache-write tokens, 5-minute and 1-hour.
func (t Tokens) CacheCreation() int64 { return SatAdd(t.CacheCreation5m, t.CacheCreation1h) }

// Total returns input + output + cache writes + cache reads.
func (t Tokens) Total() int64 {
	return SatAdd(SatAdd(t.Input, t.Output), SatAdd(t.CacheCreation(), t.CacheRead))
}

// LimitTokens returns the tokens a token limit counts: input, output and
// cache writes, not cache reads. A cache read costs a tenth of an input
// token and one request can re-read a 150,000-token context, so a total
// with cache reads is dominated by them and says nothing about how much of
// an allowance was used: a $2.64 block holds over two million tokens that
// way. Every token limit, a plan's estimate, TOKEN_LIMIT or "max", is
// compared with this count.
func (t Tokens) LimitTokens() int64 { return t.Input + t.Output + t.CacheCreation() }

// Prompt returns the tokens sent to the model (input, cache writes and cache
// reads); its size decides a request's price tier.
func (t Tokens) Prompt() int64 { return SatAdd(t.Input, SatAdd(t.CacheCreation(), t.CacheRead)) }

// CacheHitRate returns cache_read / (input + cache writes + cache reads), or 0
// when nothing was sent.
func (t Tokens) CacheHitRate() float64 {
	if p := t.Prompt(); p > 0 {
		return float64(t.CacheRead) / float64(p)
	}
	return 0
}

// Add returns the field-wise sum of t and u, saturating at the int64
// bounds: a sum that wrapped would turn a huge count into a negative one.
func (t Tokens) Add(u Tokens) Tokens {
	return Tokens{
		Input:             SatAdd(t.Input, u.Input),
		Output:            SatAdd(t.Output, u.Output),
		CacheCreation5m:   SatAdd(t.CacheCreation5m, u.CacheCreation5m),
		CacheCreation1h:   SatAdd(t.CacheCreation1h, u.CacheCreation1h),
		CacheRead:         SatAdd(t.CacheRead, u.CacheRead),
		WebSearchRequests: SatAdd(t.WebSearchRequests, u.WebSearchRequests),
		WebFetchRequests:  SatAdd(t.WebFetchRequests, u.WebFetchRequests),
	}
}

// SatAdd returns a + b, or the int64 bound it would pass.
func SatAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// Record is one distinct API response: the usage Claude Code logged for it
// and where it came from. Records with the same Key are the same response.
type Record struct {
	// Key identifies the response; see RecordKey.
	Key       string    `json:"key"`
	MessageID string    `json:"message_id,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Timestamp time.Time `json:"timestamp"`
	Model     string    `json:"model"`
	SessionID string    `json:"session_id"`
	// Project is the project path: the record's cwd, else the decoded
	// transcript folder name.
	Project     string `json:"project"`
	CWD         string `json:"cwd,omitempty"`
	GitBranch   string `json:"git_branch,omitempty"`
	Version     string `json:"version,omitempty"`
	IsSidechain bool   `json:"is_sidechain"`
	// ServiceTier ("standard", "batch", ...), Speed ("standard", "fast")
	// and InferenceGeo ("us", "global", ...) are usage fields that the
	// price depends on.
	ServiceTier  string `json:"service_tier,omitempty"`
	Speed        string `json:"speed,omitempty"`
	InferenceGeo string `json:"inference_geo,omitempty"`
	// User and Machine identify who produced the record in team mode; both
	// are empty for local records.
	User    string `json:"user,omitempty"`
	Machine string `json:"machine,omitempty"`
	// Agent is the subagent type that made the request, from the
	// subagent's agent-<id>.meta.json ("general-purpose", "Explore",
	// ...); "" when the type is not known (see AgentLabel).
	Agent string `json:"agent,omitempty"`
	// Attribution is what newer Claude Code credits the request to:
	// "skill:<name>", "plugin:<name>" or "agent:<name>", from the line's
	// attributionSkill, attributionPlugin or attributionAgent, the first
	// present in that order; "" when the line has none.
	Attribution string `json:"attribution,omitempty"`
	Tokens
	// Cost is the price of the response under the table in force. Stores
	// compute it when they store the record and again whenever the table
	// changes, so what a producer puts here is ignored.
	Cost Money `json:"cost_usd"`
}

// RecordKey returns the identity of an API response. Copies of one response
// share (message.id, requestId) wherever they appear; a record without a
// message id is never merged, so it is keyed by its own line identity.
func RecordKey(messageID, requestID, lineID string) string {
	if messageID == "" {
		return "line:" + lineID
	}
	return messageID + ":" + requestID
}

// Agent labels of AgentLabel besides the subagent types.
const (
	AgentMain     = "main"
	AgentSubagent = "subagent"
)

// AgentLabel returns who made the request: the subagent type when it is
// known, AgentSubagent for other sidechain requests (inline sidechains of
// Claude Code 1.x, flat agent-<id>.jsonl files, subagents without a
// .meta.json), else AgentMain.
func (r *Record) AgentLabel() string {
	switch {
	case r.Agent != "":
		return r.Agent
	case r.IsSidechain:
		return AgentSubagent
	}
	return AgentMain
}

// Prefer reports whether r should replace old as the kept copy of one
// response: the copy with the most output tokens wins (Claude Code writes a
// line per streamed content block and the last carries the final count), and
// among equal ones the earliest. Copies equal in both (a resumed session
// copies earlier lines verbatim under its own session id) are ordered by
// session id, then project, so that the kept copy, and so the per-session
// figures, never depend on the order files were read in. Last, a copy that
// knows its subagent type, then one that carries an attribution, beats
// one that does not: a subagent's response is logged both in its own
// transcript and, on older Claude Code, inside a progress line of the
// parent session, which knows neither.
func (r *Record) Prefer(old *Record) bool {
	if r.Output != old.Output {
		return r.Output > old.Output
	}
	if !r.Timestamp.Equal(old.Timestamp) {
		return r.Timestamp.Before(old.Timestamp)
	}
	if r.SessionID != old.SessionID {
		return r.SessionID < old.SessionID
	}
	if r.Project != old.Project {
		return r.Project < old.Project
	}
	if (r.Agent != "") != (old.Agent != "") {
		return r.Agent != ""
	}
	return r.Attribution != "" && old.Attribution == ""
}

// Prompt is a prompt the user typed: a user line of a session's own
// transcript whose content is text, not a tool result. It owns the
// responses of its session that follow it until the next prompt.
type Prompt struct {
	// Key identifies the prompt: its session and line uuid, so that the
	// copy a resumed session makes under its own id is a prompt of that
	// session too.
	Key       string    `json:"key"`
	SessionID string    `json:"session_id"`
	Project   string    `json:"project"`
	Timestamp time.Time `json:"timestamp"`
	// Text is the start of what was typed, at most MaxPromptText bytes
	// cut at a character boundary.
	Text    string `json:"text"`
	User    string `json:"user,omitempty"`
	Machine string `json:"machine,omitempty"`
}

// MaxPromptText bounds Prompt.Text: enough for a list of prompts, and a
// bound on what a pasted file costs the database.
const MaxPromptText = 1024
