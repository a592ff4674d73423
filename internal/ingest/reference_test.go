package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// referenceParseLine is a slow, independent reading of DESIGN §2 with
// encoding/json: the fast scanner must agree with it on every valid line.
// It decodes into generic maps, so keys match exactly and a repeated key
// takes its last value.
func referenceParseLine(line []byte, src *Source) (rec usage.Record, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return rec, false, nil
	}
	if !bytes.Contains(line, []byte(`"usage"`)) { // same shortcut as ParseLine
		if line[0] != '{' || line[len(line)-1] != '}' {
			return rec, false, fmt.Errorf("not an object")
		}
		return rec, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return rec, false, err
	}
	if dec.More() {
		return rec, false, fmt.Errorf("trailing data")
	}
	l, isObj := top.(map[string]any)
	if !isObj {
		return rec, false, fmt.Errorf("not an object")
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	obj := func(m map[string]any, k string) map[string]any { o, _ := m[k].(map[string]any); return o }
	num := func(m map[string]any, k string) int64 {
		n, isNum := m[k].(json.Number)
		if !isNum {
			return 0
		}
		// Independent of the scanner: integers exactly, other numbers
		// truncated, numbers beyond int64 saturated.
		if i, err := n.Int64(); err == nil {
			return i
		}
		f, err := strconv.ParseFloat(string(n), 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			return 0
		case f >= math.MaxInt64:
			return math.MaxInt64
		case f <= math.MinInt64:
			return math.MinInt64
		}
		return int64(f)
	}
	msg, requestID, timestamp, uuid := obj(l, "message"), str(l, "requestId"), str(l, "timestamp"), str(l, "uuid")
	sidechain := l["isSidechain"] == true
	var agent, attribution string
	switch str(l, "type") {
	case "assistant":
		agent = src.Agent
		for _, a := range []struct{ key, label string }{
			{"attributionSkill", "skill:"}, {"attributionPlugin", "plugin:"}, {"attributionAgent", "agent:"},
		} {
			if v := str(l, a.key); v != "" {
				attribution = a.label + truncateText(v, maxNameBytes)
				break
			}
		}
	case "progress":
		data := obj(l, "data")
		inner := obj(data, "message")
		if str(data, "type") != "agent_progress" || inner == nil || str(inner, "type") != "assistant" {
			return rec, false, nil
		}
		msg, requestID, uuid = obj(inner, "message"), str(inner, "requestId"), str(inner, "uuid")
		if ts := str(inner, "timestamp"); ts != "" {
			timestamp = ts
		}
		sidechain = true
	default:
		return rec, false, nil
	}
	u := obj(msg, "usage")
	if msg == nil || u == nil || str(msg, "model") == "<synthetic>" {
		return rec, false, nil
	}
	ts, err := time.Parse(time.RFC3339Nano, timestamp)
	if err != nil {
		return rec, false, err
	}
	rec = usage.Record{
		MessageID: str(msg, "id"), RequestID: requestID, Timestamp: ts.UTC(), Model: str(msg, "model"),
		SessionID: str(l, "sessionId"), Project: str(l, "cwd"), CWD: str(l, "cwd"),
		GitBranch: str(l, "gitBranch"), Version: str(l, "version"), IsSidechain: sidechain,
		ServiceTier: str(u, "service_tier"), Speed: str(u, "speed"), InferenceGeo: str(u, "inference_geo"),
		Agent: agent, Attribution: attribution,
		Tokens: usage.Tokens{
			Input: num(u, "input_tokens"), Output: num(u, "output_tokens"),
			CacheCreation5m: num(u, "cache_creation_input_tokens"), CacheRead: num(u, "cache_read_input_tokens"),
			WebSearchRequests: num(obj(u, "server_tool_use"), "web_search_requests"),
			WebFetchRequests:  num(obj(u, "server_tool_use"), "web_fetch_requests"),
		},
	}
	if cc := obj(u, "cache_creation"); cc != nil {
		// DESIGN §3's fallback: what the object leaves out of the flat
		// count is 5-minute writes.
		flat := rec.CacheCreation5m
		rec.CacheCreation5m, rec.CacheCreation1h = num(cc, "ephemeral_5m_input_tokens"), num(cc, "ephemeral_1h_input_tokens")
		if rest := flat - rec.CacheCreation5m - rec.CacheCreation1h; rest > 0 {
			rec.CacheCreation5m += rest
		}
	}
	// Counts over a billion reject the line; negative ones read as 0.
	counts := []*int64{&rec.Input, &rec.Output, &rec.CacheCreation5m, &rec.CacheCreation1h, &rec.CacheRead, &rec.WebSearchRequests}
	for _, c := range counts {
		if *c > 1e9 {
			return usage.Record{}, false, fmt.Errorf("count %d over a billion", *c)
		}
	}
	var valueErr error
	for _, c := range counts {
		if *c < 0 {
			*c, valueErr = 0, ErrBadValue
		}
	}
	if rec.SessionID == "" {
		rec.SessionID = src.SessionID
	}
	if rec.Project == "" {
		rec.Project = src.Project
	}
	if uuid == "" && rec.MessageID == "" {
		sum := sha256.Sum256(line)
		uuid = "sha256:" + hex.EncodeToString(sum[:16])
	}
	rec.Key = usage.RecordKey(rec.MessageID, rec.RequestID, uuid)
	return rec, true, valueErr
}

// sharedTestdata returns ../shared/testdata beside the repository, where
// the real Claude Code corpus lives (see its PROVENANCE.md).
func sharedTestdata(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("CTM_SHARED_TESTDATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "testdata")
	}
	if _, err := os.Stat(filepath.Join(dir, "claude-real.expected.json")); err != nil {
		abs, _ := filepath.Abs(dir)
		tb.Skipf("real corpus not found at %s (the shared testdata folder beside the repository, or set CTM_SHARED_TESTDATA): %v", abs, err)
	}
	return dir
}

// realTranscripts returns every transcript of the real corpus of Claude
// Code 1.0–2.1.50.
func realTranscripts(tb testing.TB) (projectsDir string, paths []string) {
	tb.Helper()
	return corpusTranscripts(tb, "claude-real")
}

// realCorpora names both real corpora: Claude Code 1.0–2.1.50 and
// 2.1.114–2.1.199 (subagent .meta.json, attribution fields).
var realCorpora = []string{"claude-real", "claude-real-2026"}

// corpusTranscripts returns every transcript of the named real corpus.
func corpusTranscripts(tb testing.TB, corpus string) (projectsDir string, paths []string) {
	tb.Helper()
	projectsDir = filepath.Join(sharedTestdata(tb), corpus, "projects")
	err := filepath.WalkDir(projectsDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".jsonl") {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil || len(paths) == 0 {
		tb.Fatalf("walk %s: %d files, %v", projectsDir, len(paths), err)
	}
	return projectsDir, paths
}

// refSink is an in-memory Sink that keeps one record per key by
// Record.Prefer, as the stores do.
type refSink struct {
	records map[string]usage.Record
	prompts map[string]usage.Prompt
	files   map[string]usage.FileState
	applies int
	// failAfter makes the Apply call with this number (1-based) fail
	// without storing anything; 0 never fails.
	failAfter int
}

func newRefSink() *refSink {
	return &refSink{records: map[string]usage.Record{}, prompts: map[string]usage.Prompt{}, files: map[string]usage.FileState{}}
}

func (s *refSink) FileStates(context.Context) (map[string]usage.FileState, error) {
	m := make(map[string]usage.FileState, len(s.files))
	for k, v := range s.files {
		m[k] = v
	}
	return m, nil
}

func (s *refSink) Apply(_ context.Context, b usage.Batch) error {
	s.applies++
	if s.failAfter > 0 && s.applies == s.failAfter {
		return fmt.Errorf("disk full (simulated)")
	}
	for _, r := range b.Records {
		if old, ok := s.records[r.Key]; !ok || r.Prefer(&old) {
			s.records[r.Key] = r
		}
	}
	for _, p := range b.Prompts {
		if _, ok := s.prompts[p.Key]; !ok {
			s.prompts[p.Key] = p
		}
	}
	for _, f := range b.Files {
		s.files[f.Path] = f
	}
	return nil
}

// totals sums the stored records.
func (s *refSink) totals() (usage.Tokens, int) {
	var t usage.Tokens
	for _, r := range s.records {
		t = t.Add(r.Tokens)
	}
	return t, len(s.records)
}

// referenceParsePrompt is an independent reading of what a prompt is
// (DESIGN §8) with encoding/json, with none of ParsePrompt's shortcuts.
func referenceParsePrompt(line []byte, src *Source) (usage.Prompt, bool) {
	var l struct {
		Type           string `json:"type"`
		UUID           string `json:"uuid"`
		SessionID      string `json:"sessionId"`
		CWD            string `json:"cwd"`
		Timestamp      string `json:"timestamp"`
		IsSidechain    bool   `json:"isSidechain"`
		IsMeta         bool   `json:"isMeta"`
		CompactSummary bool   `json:"isCompactSummary"`
		Message        struct {
			Content json.RawMessage `json:"content"`
		} `json:"message"`
	}
	if json.Unmarshal(line, &l) != nil || l.Type != "user" || l.IsSidechain || l.IsMeta || l.CompactSummary {
		return usage.Prompt{}, false
	}
	var texts []string
	var whole string
	var blocks []struct {
		Type, Text string
	}
	switch {
	case json.Unmarshal(l.Message.Content, &whole) == nil:
		texts = []string{whole}
	case json.Unmarshal(l.Message.Content, &blocks) == nil:
		for _, b := range blocks {
			switch b.Type {
			case "tool_result":
				return usage.Prompt{}, false
			case "text":
				texts = append(texts, b.Text)
			}
		}
	}
	var typed []string
	for _, t := range texts {
		t = strings.TrimSpace(t)
		if t != "" && !strings.HasPrefix(t, "<ide_") && !strings.HasPrefix(t, "<system-reminder>") {
			typed = append(typed, t)
		}
	}
	text := strings.Join(typed, "\n")
	for _, p := range []string{"[Request interrupted", "<local-command-", "<task-notification>", "<bash-stdout>", "<bash-stderr>"} {
		if strings.HasPrefix(text, p) {
			return usage.Prompt{}, false
		}
	}
	if strings.HasPrefix(text, "<command-") {
		if i := strings.Index(text, "<command-name>"); i >= 0 {
			rest := text[i+len("<command-name>"):]
			if j := strings.Index(rest, "</command-name>"); j >= 0 && strings.TrimSpace(rest[:j]) != "" {
				cmd := strings.TrimSpace(rest[:j])
				if i := strings.Index(text, "<command-args>"); i >= 0 {
					rest := text[i+len("<command-args>"):]
					if j := strings.Index(rest, "</command-args>"); j >= 0 && strings.TrimSpace(rest[:j]) != "" {
						cmd += " " + strings.TrimSpace(rest[:j])
					}
				}
				text = cmd
			}
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, l.Timestamp)
	if text == "" || err != nil {
		return usage.Prompt{}, false
	}
	for len(text) > usage.MaxPromptText {
		_, size := utf8.DecodeLastRuneInString(text)
		text = text[:len(text)-size]
	}
	p := usage.Prompt{SessionID: l.SessionID, Project: l.CWD, Timestamp: ts.UTC(), Text: text}
	if p.SessionID == "" {
		p.SessionID = src.SessionID
	}
	if p.Project == "" {
		p.Project = src.Project
	}
	id := l.UUID
	if id == "" {
		sum := sha256.Sum256(bytes.TrimSpace(line))
		id = "sha256:" + hex.EncodeToString(sum[:16])
	}
	p.Key = p.SessionID + ":" + id
	return p, true
}
