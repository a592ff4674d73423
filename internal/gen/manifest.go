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

// Manifest records what Generate wrote so that tests and benchmarks can
// compare a tool's accounting with the truth.
type Manifest struct {
	Seed        uint64    `json:"seed"`
	TargetBytes int64     `json:"target_bytes"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
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
	// LineTypes counts lines by type, with the subtype or data.type where
	// one exists, e.g. "system:turn_duration", "progress:agent_progress".
	LineTypes map[string]int64 `json:"line_types"`
	// Layouts counts subagent and session layouts: the file kinds plus the
	// Layout* counters.
	Layouts  map[string]int `json:"layouts"`
	FileList []FileEntry    `json:"file_list"`
}

// ModelTotals is one model's share of Manifest.Totals.
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
