package gen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// ManifestName is the file, directly under the output directory, in which
// Generate records what it wrote.
const ManifestName = ".ctm-gen.json"

// File kinds recorded in FileEntry.Kind, one per transcript layout.
const (
	KindSession  = "session"  // projects/<p>/<session>.jsonl
	KindAgent    = "agent"    // projects/<p>/agent-<id>.jsonl (2.0.x)
	KindSubagent = "subagent" // projects/<p>/<session>/subagents/agent-<id>.jsonl (2.1.x)
	KindCompact  = "acompact" // projects/<p>/<session>/subagents/agent-acompact-<id>.jsonl
)

// Layout counters recorded in Manifest.Layouts besides the file kinds.
const (
	LayoutInlineSidechain = "inline-sidechain" // subagent runs written into the session file (1.x)
	LayoutProgressOnly    = "progress-only"    // subagent runs seen only through agent_progress copies
	LayoutResumed         = "resumed"          // sessions that start with copies of another session's lines
)

// Billing shapes counted in Manifest.BillingShapes: how many unique
// responses (their kept copies) show each usage field or price boundary that
// the price table bills differently.
const (
	BillingFast            = "speed:fast"           // usage.speed "fast" (Opus 4.8, 5, 5.5)
	BillingBatch           = "service_tier:batch"   // usage.service_tier "batch"
	BillingGeoUS           = "inference_geo:us"     // data residency, 1.1x
	BillingGeoGlobal       = "inference_geo:global" // 1x
	BillingGeoNotAvailable = "inference_geo:not_available"
	// BillingGatewayZeros counts cache_creation objects of zeros under a
	// non-zero cache_creation_input_tokens; the difference counts as
	// 5-minute writes, and the manifest's totals count it so.
	BillingGatewayZeros = "cache_creation:gateway_zeros"
	BillingWebFetch     = "server_tool_use:web_fetch" // web_fetch_requests > 0
	// BillingHaikuBelow and BillingHaikuAbove count Haiku 5.5 prompts
	// within 10% below or above its 100,000-token tier.
	BillingHaikuBelow = "haiku-5-5:prompt_90k-100k"
	BillingHaikuAbove = "haiku-5-5:prompt_100k-110k"
	// BillingLongBelow and BillingLongAbove count prompts within 10% below
	// or above 200,000 on a model whose long-context tier applies on the
	// response's date.
	BillingLongBelow = "long_context:prompt_180k-200k"
	BillingLongAbove = "long_context:prompt_200k-220k"
	// BillingLongContextEnded counts Opus 4.6 and Sonnet 4.6 prompts over
	// 200,000 from 2026-03-13, billed at standard prices.
	BillingLongContextEnded = "long_context_ended:prompt_over_200k"
	// BillingSonnet55Before and BillingSonnet55After count Sonnet 5.5
	// responses either side of its cache read change on 2026-10-07.
	BillingSonnet55Before = "sonnet-5-5:before_2026-10-07"
	BillingSonnet55After  = "sonnet-5-5:from_2026-10-07"
)

// Manifest records what Generate wrote so that tests and benchmarks can
// compare a tool's accounting with the truth.
type Manifest struct {
	Seed        uint64 `json:"seed"`
	TargetBytes int64  `json:"target_bytes"`
	// Shape and Billing are the Config fields the data was written with.
	Shape   string    `json:"shape"`
	Billing bool      `json:"billing"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// Bytes, Files and Lines cover every transcript file; Lines counts a
	// torn last line too.
	Bytes     int64 `json:"bytes"`
	Files     int   `json:"files"`
	Lines     int64 `json:"lines"`
	TornLines int   `json:"torn_lines"`
	Projects  int   `json:"projects"`
	Sessions  int   `json:"sessions"`
	// UsageLines counts every line that carries a usage object: assistant
	// lines (including <synthetic> ones and copies) and agent_progress
	// lines embedding an assistant message.
	UsageLines     int64 `json:"usage_lines"`
	SyntheticLines int64 `json:"synthetic_lines"`
	// UniqueResponses is the number of distinct (message.id, requestId)
	// pairs with a real model, wherever their copies were written.
	UniqueResponses int64 `json:"unique_responses"`
	// Totals sums the kept copy of each unique response under DESIGN.md §2.
	Totals usage.Tokens `json:"totals"`
	// LongContextResponses counts responses whose prompt exceeds
	// usage.LongContextThreshold.
	LongContextResponses int64                  `json:"long_context_responses"`
	Models               map[string]ModelTotals `json:"models"`
	// Days splits Totals by the UTC day of each kept copy's timestamp.
	Days map[string]ModelTotals `json:"days"`
	// BillingShapes counts unique responses by billing shape (the Billing*
	// keys); a shape that never occurs is absent.
	BillingShapes map[string]int64 `json:"billing_shapes"`
	// LineTypes counts lines by type, with the subtype or data.type where
	// one exists, e.g. "system:turn_duration", "progress:agent_progress".
	LineTypes map[string]int64 `json:"line_types"`
	// Layouts counts subagent and session layouts: the file kinds plus the
	// Layout* counters.
	Layouts  map[string]int `json:"layouts"`
	FileList []FileEntry    `json:"file_list"`
}

// ModelTotals is one model's (or one day's) share of Manifest.Totals.
type ModelTotals struct {
	Entries int64 `json:"entries"`
	usage.Tokens
}

// FileEntry describes one written transcript file.
type FileEntry struct {
	// Path is relative to the output directory, with forward slashes.
	Path  string `json:"path"`
	Kind  string `json:"kind"`
	Bytes int64  `json:"bytes"`
	Lines int64  `json:"lines"`
	Torn  bool   `json:"torn,omitempty"`
}

// ReadManifest reads the manifest Generate wrote into dir.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse manifest %q: %w", filepath.Join(dir, ManifestName), err)
	}
	return &m, nil
}

func (m *Manifest) write(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}
