package pricing

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// realData is the shared corpus of real Claude Code transcripts with their
// expected accounting (see its PROVENANCE.md).
const realData = "../../../shared/testdata"

type rawUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreation            *struct {
		Ephemeral5m int64 `json:"ephemeral_5m_input_tokens"`
		Ephemeral1h int64 `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
	ServerToolUse *struct {
		WebSearchRequests int64 `json:"web_search_requests"`
	} `json:"server_tool_use"`
}

type rawMessage struct {
	ID    string    `json:"id"`
	Model string    `json:"model"`
	Usage *rawUsage `json:"usage"`
}

// rawLine is the part of a transcript line (or of the message embedded in
// an agent_progress line) that accounting needs.
type rawLine struct {
	Type      string          `json:"type"`
	UUID      string          `json:"uuid"`
	RequestID string          `json:"requestId"`
	Timestamp string          `json:"timestamp"`
	Message   json.RawMessage `json:"message"`
	Data      *struct {
		Type    string   `json:"type"`
		Message *rawLine `json:"message"`
	} `json:"data"`
}

type testRecord struct {
	model     string
	timestamp string
	tok       usage.Tokens
}

// assistantRecord returns the usage record of an assistant line, if any.
func assistantRecord(l *rawLine) (key string, r testRecord, ok bool) {
	if l.Type != "assistant" || len(l.Message) == 0 {
		return "", r, false
	}
	var m rawMessage
	if json.Unmarshal(l.Message, &m) != nil || m.Usage == nil || m.Model == "<synthetic>" {
		return "", r, false
	}
	u := m.Usage
	r = testRecord{model: m.Model, timestamp: l.Timestamp, tok: usage.Tokens{
		Input: u.InputTokens, Output: u.OutputTokens, CacheRead: u.CacheReadInputTokens,
	}}
	if u.CacheCreation != nil {
		r.tok.CacheCreation5m, r.tok.CacheCreation1h = u.CacheCreation.Ephemeral5m, u.CacheCreation.Ephemeral1h
	} else {
		r.tok.CacheCreation5m = u.CacheCreationInputTokens
	}
	if u.ServerToolUse != nil {
		r.tok.WebSearchRequests = u.ServerToolUse.WebSearchRequests
	}
	return usage.RecordKey(m.ID, l.RequestID, l.UUID+l.Timestamp), r, true
}

// readRecords applies DESIGN §2 to every transcript under root: one record
// per (message.id, requestId), keeping the copy with the most output tokens.
func readRecords(t *testing.T, root string) map[string]testRecord {
	t.Helper()
	records := map[string]testRecord{}
	keep := func(key string, r testRecord) {
		old, seen := records[key]
		if !seen || r.tok.Output > old.tok.Output ||
			r.tok.Output == old.tok.Output && r.timestamp < old.timestamp {
			records[key] = r
		}
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".jsonl") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		br := bufio.NewReader(f)
		for n := 0; ; n++ {
			b, err := br.ReadBytes('\n')
			if len(bytes.TrimSpace(b)) > 0 {
				var l rawLine
				if json.Unmarshal(b, &l) == nil {
					if key, r, ok := assistantRecord(&l); ok {
						keep(key, r)
					}
					if l.Type == "progress" && l.Data != nil && l.Data.Type == "agent_progress" && l.Data.Message != nil {
						if key, r, ok := assistantRecord(l.Data.Message); ok {
							keep(key, r)
						}
					}
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	if err != nil {
		t.Fatalf("reading %s: %v", root, err)
	}
	return records
}

// TestRealDataCost prices every record of both real corpora one by one
// and checks the totals and per-model costs against their expected files,
// to the last digit.
func TestRealDataCost(t *testing.T) {
	for _, corpus := range []string{"claude-real", "claude-real-2026"} {
		t.Run(corpus, func(t *testing.T) { testRealDataCost(t, corpus) })
	}
}

func testRealDataCost(t *testing.T, corpus string) {
	expPath := filepath.Join(realData, corpus+".expected.json")
	data, err := os.ReadFile(expPath)
	if err != nil {
		t.Skipf("shared test data not available (want %s): %v", expPath, err)
	}
	type figures struct {
		Input, Output, CW5, CW1, Entries int64
		CacheRead                        int64       `json:"cache_read"`
		WebSearch                        int64       `json:"web_search"`
		CostUSD                          usage.Money `json:"cost_usd"`
	}
	var want struct {
		Totals figures            `json:"totals"`
		Models map[string]figures `json:"models"`
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("parse %s: %v", expPath, err)
	}

	tab := mustLoad(t, "")
	records := readRecords(t, filepath.Join(realData, corpus, "projects"))
	var total usage.Tokens
	var totalCost usage.Money
	modelCost := map[string]usage.Money{}
	for _, r := range records {
		ts, err := time.Parse(time.RFC3339Nano, r.timestamp)
		if err != nil {
			t.Fatalf("timestamp %q: %v", r.timestamp, err)
		}
		rec := usage.Record{Model: r.model, Timestamp: ts, Tokens: r.tok}
		c, known := tab.Price(&rec)
		if !known {
			t.Errorf("model %q has no price", r.model)
		}
		total = total.Add(r.tok)
		totalCost += c
		modelCost[r.model] += c
	}

	// The token totals show the test's own parsing follows the rules, so a
	// cost mismatch points at prices.
	w := want.Totals
	if int64(len(records)) != w.Entries || total.Input != w.Input || total.Output != w.Output ||
		total.CacheCreation5m != w.CW5 || total.CacheCreation1h != w.CW1 ||
		total.CacheRead != w.CacheRead || total.WebSearchRequests != w.WebSearch {
		t.Fatalf("parsed %d records with %+v, want %d with %+v", len(records), total, w.Entries, w)
	}
	if totalCost != w.CostUSD {
		t.Errorf("total cost = %s, want %s", totalCost, w.CostUSD)
	}
	for model, m := range want.Models {
		if got := modelCost[model]; got != m.CostUSD {
			t.Errorf("cost of %s = %s, want %s", model, got, m.CostUSD)
		}
	}
}
