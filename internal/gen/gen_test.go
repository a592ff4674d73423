package gen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// corpusSize is big enough for every layout and a few huge tool results to
// appear, and small enough to generate in well under a second.
const corpusSize = 12 << 20

var (
	corpusOnce  sync.Once
	corpusDir   string
	corpusMan   *Manifest
	corpusErr   error
	linesOnce   sync.Once
	corpusLines []line
	corpusRecs  []rawLine
)

// mustCorpusLines returns the shared data set's lines, raw and decoded.
func mustCorpusLines(t *testing.T) (string, *Manifest, []line, []rawLine) {
	t.Helper()
	dir, m := mustCorpus(t)
	linesOnce.Do(func() {
		corpusLines = readLines(t, dir)
		corpusRecs = decodeAll(t, corpusLines)
	})
	return dir, m, corpusLines, corpusRecs
}

// mustCorpus generates one shared data set for the read-only tests.
func mustCorpus(tb testing.TB) (string, *Manifest) {
	tb.Helper()
	corpusOnce.Do(func() {
		corpusDir, corpusErr = os.MkdirTemp("", "ctm-gen-test-")
		if corpusErr == nil {
			corpusMan, corpusErr = Generate(context.Background(), Config{Dir: corpusDir, Size: corpusSize, Seed: 7})
		}
	})
	if corpusErr != nil {
		tb.Fatalf("Generate: %v", corpusErr)
	}
	return corpusDir, corpusMan
}

func TestMain(m *testing.M) {
	code := m.Run()
	if corpusDir != "" {
		os.RemoveAll(corpusDir)
	}
	if billingDir != "" {
		os.RemoveAll(billingDir)
	}
	os.Exit(code)
}

// line is one physical line of a generated file.
type line struct {
	path string // relative to the output dir
	data []byte
	last bool // last line of its file
	nl   bool // ends with a newline
}

func readLines(t *testing.T, dir string) []line {
	t.Helper()
	var out []line
	err := filepath.WalkDir(filepath.Join(dir, "projects"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		parts := bytes.SplitAfter(b, []byte("\n"))
		if len(parts[len(parts)-1]) == 0 {
			parts = parts[:len(parts)-1]
		}
		for i, p := range parts {
			nl := bytes.HasSuffix(p, []byte("\n"))
			out = append(out, line{path: filepath.ToSlash(rel), data: bytes.TrimSuffix(p, []byte("\n")), last: i == len(parts)-1, nl: nl})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read generated files: %v", err)
	}
	return out
}

func hashTree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	h := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatalf("hash %s: %v", dir, err)
	}
	return h
}

func TestGenerateIsDeterministic(t *testing.T) {
	gen := func(seed uint64) map[string][32]byte {
		dir := t.TempDir()
		if _, err := Generate(context.Background(), Config{Dir: dir, Size: 1 << 20, Seed: seed}); err != nil {
			t.Fatalf("Generate(seed %d): %v", seed, err)
		}
		return hashTree(t, dir)
	}
	a, b, c := gen(42), gen(42), gen(43)
	if len(a) != len(b) {
		t.Fatalf("same seed wrote %d and %d files", len(a), len(b))
	}
	for path, sum := range a {
		if b[path] != sum {
			t.Errorf("same seed: %s differs between runs", path)
		}
	}
	same := 0
	for path, sum := range a {
		if c[path] == sum {
			same++
		}
	}
	if same != 0 {
		t.Errorf("different seeds wrote %d identical files, want 0", same)
	}
}

func TestGenerateReachesRequestedSize(t *testing.T) {
	for _, size := range []int64{minSize, 256 << 10, 3 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			dir := t.TempDir()
			m, err := Generate(context.Background(), Config{Dir: dir, Size: size, Seed: 3})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			// One response can overshoot the smallest sizes by a few KB.
			slack := 1.05
			if size < 256<<10 {
				slack = 1.25
			}
			if m.Bytes < size || float64(m.Bytes) > float64(size)*slack {
				t.Errorf("Bytes = %d, want within [%d, %d]", m.Bytes, size, int64(float64(size)*slack))
			}
			// The manifest must describe the files on disk.
			var onDisk int64
			files := 0
			for _, f := range m.FileList {
				st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.Path)))
				if err != nil {
					t.Fatalf("manifest lists %s: %v", f.Path, err)
				}
				if st.Size() != f.Bytes {
					t.Errorf("%s: size %d, manifest says %d", f.Path, st.Size(), f.Bytes)
				}
				onDisk += st.Size()
				files++
			}
			if onDisk != m.Bytes || files != m.Files {
				t.Errorf("disk has %d bytes in %d files, manifest says %d in %d", onDisk, files, m.Bytes, m.Files)
			}
			if got, err := ReadManifest(dir); err != nil || got.Bytes != m.Bytes || got.UniqueResponses != m.UniqueResponses {
				t.Errorf("ReadManifest = %+v, %v; want the returned manifest", got, err)
			}
		})
	}
}

func TestGeneratedLinesAreValidJSON(t *testing.T) {
	_, m, lines, _ := mustCorpusLines(t)
	if int64(len(lines)) != m.Lines {
		t.Errorf("read %d lines, manifest says %d", len(lines), m.Lines)
	}
	torn := map[string]bool{}
	for _, f := range m.FileList {
		if f.Torn {
			torn[f.Path] = true
		}
	}
	tornSeen := 0
	for _, l := range lines {
		switch {
		case l.last && torn[l.path]:
			tornSeen++
			if l.nl || json.Valid(l.data) {
				t.Errorf("%s: torn last line is complete (newline %v)", l.path, l.nl)
			}
		case !l.nl:
			t.Errorf("%s: line without newline that the manifest does not call torn", l.path)
		case !json.Valid(l.data):
			t.Errorf("%s: invalid JSON line: %.200s", l.path, l.data)
		}
	}
	if tornSeen == 0 || tornSeen != m.TornLines {
		t.Errorf("saw %d torn lines, manifest says %d (want > 0)", tornSeen, m.TornLines)
	}
}

// rawUsage is the test's own decoding of a usage object, independent of
// the generator.
type rawUsage struct {
	Input         int64 `json:"input_tokens"`
	Output        int64 `json:"output_tokens"`
	CacheCreation int64 `json:"cache_creation_input_tokens"`
	CacheRead     int64 `json:"cache_read_input_tokens"`
	Split         *struct {
		M5 int64 `json:"ephemeral_5m_input_tokens"`
		H1 int64 `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
	Server *struct {
		WebSearch int64 `json:"web_search_requests"`
		WebFetch  int64 `json:"web_fetch_requests"`
	} `json:"server_tool_use"`
	ServiceTier  string `json:"service_tier"`
	Speed        string `json:"speed"`
	InferenceGeo string `json:"inference_geo"`
}

type rawMessage struct {
	ID      string          `json:"id"`
	Model   string          `json:"model"`
	Usage   *rawUsage       `json:"usage"`
	Content json.RawMessage `json:"content"`
}

type rawLine struct {
	Type        string      `json:"type"`
	Subtype     string      `json:"subtype"`
	SessionID   string      `json:"sessionId"`
	Timestamp   string      `json:"timestamp"`
	IsSidechain bool        `json:"isSidechain"`
	RequestID   *string     `json:"requestId"`
	APIError    bool        `json:"isApiErrorMessage"`
	AgentID     string      `json:"agentId"`
	Message     *rawMessage `json:"message"`
	Data        *struct {
		Type    string `json:"type"`
		AgentID string `json:"agentId"`
		Message *struct {
			Type      string      `json:"type"`
			RequestID string      `json:"requestId"`
			Timestamp string      `json:"timestamp"`
			Message   *rawMessage `json:"message"`
		} `json:"message"`
	} `json:"data"`
}

func decodeAll(t *testing.T, lines []line) []rawLine {
	t.Helper()
	var out []rawLine
	for _, l := range lines {
		var r rawLine
		if err := json.Unmarshal(l.data, &r); err != nil {
			continue // torn tails; validity is checked elsewhere
		}
		out = append(out, r)
	}
	return out
}

func TestDedupeCountMatchesManifest(t *testing.T) {
	_, m, _, lines := mustCorpusLines(t)
	type kept struct{ tok usage.Tokens }
	recs := map[string]*kept{}
	take := func(msg *rawMessage, req string) {
		if msg == nil || msg.Usage == nil || msg.Model == "<synthetic>" {
			return
		}
		u := msg.Usage
		tok := usage.Tokens{Input: u.Input, Output: u.Output, CacheRead: u.CacheRead, CacheCreation5m: u.CacheCreation}
		if u.Split != nil {
			tok.CacheCreation5m, tok.CacheCreation1h = u.Split.M5, u.Split.H1
		}
		if u.Server != nil {
			tok.WebSearchRequests = u.Server.WebSearch
		}
		key := msg.ID + "\x00" + req
		if k, ok := recs[key]; !ok || tok.Output > k.tok.Output {
			recs[key] = &kept{tok}
		}
	}
	usageLines := int64(0)
	for _, r := range lines {
		switch {
		case r.Type == "assistant" && r.Message != nil:
			usageLines++
			req := ""
			if r.RequestID != nil {
				req = *r.RequestID
			}
			take(r.Message, req)
		case r.Type == "progress" && r.Data != nil && r.Data.Type == "agent_progress" &&
			r.Data.Message != nil && r.Data.Message.Type == "assistant":
			usageLines++
			take(r.Data.Message.Message, r.Data.Message.RequestID)
		}
	}
	var total usage.Tokens
	for _, k := range recs {
		total = total.Add(k.tok)
	}
	if got := int64(len(recs)); got != m.UniqueResponses {
		t.Errorf("independent dedupe found %d unique responses, manifest says %d", got, m.UniqueResponses)
	}
	if total != m.Totals {
		t.Errorf("independent totals = %+v, manifest says %+v", total, m.Totals)
	}
	if usageLines != m.UsageLines {
		t.Errorf("counted %d usage lines, manifest says %d", usageLines, m.UsageLines)
	}
	if m.UsageLines <= m.UniqueResponses {
		t.Errorf("usage lines %d <= unique responses %d: no duplicate copies were written", m.UsageLines, m.UniqueResponses)
	}
}

func TestGeneratedShapes(t *testing.T) {
	_, m, lines, recs := mustCorpusLines(t)

	// Layouts, from the paths on disk.
	layouts := map[string]int{}
	var minFile, maxFile int64 = 1 << 62, 0
	for _, f := range m.FileList {
		base := f.Path[strings.LastIndex(f.Path, "/")+1:]
		parts := strings.Split(f.Path, "/")
		switch {
		case strings.HasPrefix(base, "agent-acompact-") && len(parts) == 5 && parts[3] == "subagents":
			layouts[KindCompact]++
		case strings.HasPrefix(base, "agent-") && len(parts) == 5 && parts[3] == "subagents":
			layouts[KindSubagent]++
		case strings.HasPrefix(base, "agent-") && len(parts) == 3:
			layouts[KindAgent]++
		case len(parts) == 3:
			layouts[KindSession]++
		default:
			t.Errorf("unexpected path %s", f.Path)
		}
		minFile, maxFile = min(minFile, f.Bytes), max(maxFile, f.Bytes)
	}
	for _, k := range []string{KindSession, KindAgent, KindSubagent, KindCompact} {
		if layouts[k] == 0 || layouts[k] != m.Layouts[k] {
			t.Errorf("layout %s: %d files on disk, manifest says %d (want > 0)", k, layouts[k], m.Layouts[k])
		}
	}
	if minFile > 64<<10 || maxFile < 1<<20 {
		t.Errorf("file sizes span [%d, %d], want from KBs to MBs", minFile, maxFile)
	}

	seen := map[string]bool{}
	models := map[string]bool{}
	var first, last time.Time
	progressAgents := map[string]bool{}
	for _, r := range recs {
		kind := r.Type
		if r.Subtype != "" {
			kind += ":" + r.Subtype
		}
		seen[kind] = true
		if ts, err := time.Parse(time.RFC3339, r.Timestamp); err == nil {
			if first.IsZero() || ts.Before(first) {
				first = ts
			}
			if ts.After(last) {
				last = ts
			}
		}
		if r.Type == "assistant" && r.Message != nil && r.Message.Usage != nil {
			u := r.Message.Usage
			models[r.Message.Model] = true
			switch {
			case r.Message.Model == "<synthetic>":
				if r.RequestID != nil {
					t.Errorf("<synthetic> line has a requestId")
				}
				seen["synthetic"] = true
				seen["api-error"] = seen["api-error"] || r.APIError
			case u.Split == nil:
				seen["no-cache-creation-object"] = true
			case u.Split.H1 > 0:
				seen["1h-cache"] = true
			}
			if u.Server != nil && u.Server.WebSearch > 0 {
				seen["web-search"] = true
			}
			if r.Message.Model == modelSonnet45 && u.Input+u.CacheCreation+u.CacheRead > longPrompt {
				seen["sonnet-long-context"] = true
			}
			if r.IsSidechain && r.AgentID == "" {
				seen["inline-sidechain"] = true
			}
			if bytes.Contains(r.Message.Content, []byte(`"type":"thinking"`)) {
				seen["thinking"] = true
			}
			if bytes.Contains(r.Message.Content, []byte(`"type":"tool_use"`)) {
				seen["tool_use"] = true
			}
		}
		if r.Data != nil && r.Data.Type == "agent_progress" && r.Data.Message != nil && r.Data.Message.Type == "assistant" {
			seen["agent_progress-with-usage"] = true
			progressAgents[r.Data.AgentID] = true
		}
	}
	// A progress-only subagent: progress copies but no subagent file.
	for id := range progressAgents {
		found := false
		for _, f := range m.FileList {
			if strings.HasSuffix(f.Path, "/agent-"+id+".jsonl") {
				found = true
				break
			}
		}
		if !found {
			seen["progress-only"] = true
			break
		}
	}
	for _, l := range lines {
		if len(l.data) > 100<<10 && bytes.Contains(l.data, []byte(`"type":"tool_result"`)) {
			seen["huge-tool-result"] = true
		}
	}
	// A resumed session: a session file holding lines of another session.
	for _, l := range lines {
		parts := strings.Split(l.path, "/")
		if len(parts) != 3 || strings.HasPrefix(parts[2], "agent-") || !bytes.Contains(l.data, []byte(`"sessionId":"`)) {
			continue
		}
		if !bytes.Contains(l.data, []byte(`"sessionId":"`+strings.TrimSuffix(parts[2], ".jsonl")+`"`)) {
			seen["resumed"] = true
			break
		}
	}
	for _, want := range []string{
		"user", "assistant", "summary", "system", "system:turn_duration", "system:compact_boundary",
		"system:stop_hook_summary", "system:api_error", "file-history-snapshot", "queue-operation", "progress",
		"synthetic", "api-error", "no-cache-creation-object", "1h-cache", "web-search", "sonnet-long-context",
		"inline-sidechain", "thinking", "tool_use", "huge-tool-result", "agent_progress-with-usage",
		"progress-only", "resumed",
	} {
		if !seen[want] {
			t.Errorf("no %s line in the generated data", want)
		}
	}
	for _, model := range []string{modelOpus45, modelOpus46, modelSonnet45, modelHaiku45} {
		if !models[model] {
			t.Errorf("model %s never appears", model)
		}
	}
	// Even a small set spans the three eras of the 60-day window.
	if span := last.Sub(first); span < 30*24*time.Hour || first.Before(m.Start) || last.After(m.End.AddDate(0, 0, 2)) {
		t.Errorf("timestamps span [%s, %s], want over 30 days within [%s, %s]", first, last, m.Start, m.End)
	}
	if m.Sessions < 3 || m.Projects != 30 {
		t.Errorf("%d sessions in %d projects, want >= 3 in 30", m.Sessions, m.Projects)
	}
	if m.LongContextResponses == 0 {
		t.Errorf("LongContextResponses = 0, want > 0")
	}
}

func TestGenerateRejectsBadConfig(t *testing.T) {
	existing := t.TempDir()
	if err := os.Mkdir(filepath.Join(existing, "projects"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		code string
	}{
		{"no dir", Config{Size: 1 << 20}, usage.EINVALID},
		{"too small", Config{Dir: t.TempDir(), Size: 100}, usage.EINVALID},
		{"negative days", Config{Dir: t.TempDir(), Size: 1 << 20, Days: -1}, usage.EINVALID},
		{"existing projects", Config{Dir: existing, Size: 1 << 20}, usage.ECONFLICT},
		{"unknown shape", Config{Dir: t.TempDir(), Size: 1 << 20, Shape: "wide"}, usage.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(context.Background(), tt.cfg)
			if got := usage.ErrorCode(err); got != tt.code {
				t.Errorf("Generate error = %v (code %q), want code %q", err, got, tt.code)
			}
		})
	}
}

func TestGenerateStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Generate(ctx, Config{Dir: t.TempDir(), Size: 1 << 20})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestGenerateReportsWriteErrors(t *testing.T) {
	dir := t.TempDir()
	// A file where the projects directory must go makes creation fail.
	if err := os.WriteFile(filepath.Join(dir, "projects"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(context.Background(), Config{Dir: dir, Size: 1 << 20}); err == nil {
		t.Errorf("Generate over a file named projects succeeded, want an error")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"600MB", 600 << 20, true},
		{"600mb", 600 << 20, true},
		{"1.5GB", 3 << 29, true},
		{"512KiB", 512 << 10, true},
		{"2M", 2 << 20, true},
		{"1048576", 1 << 20, true},
		{" 10 MB ", 10 << 20, true},
		{"100B", 100, true},
		{"", 0, false},
		{"MB", 0, false},
		{"-5MB", 0, false},
		{"0", 0, false},
		{"ten", 0, false},
		{"1e30GB", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestReadManifestErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadManifest(dir); err == nil {
		t.Errorf("ReadManifest(empty dir) succeeded, want an error")
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(dir); err == nil {
		t.Errorf("ReadManifest(bad JSON) succeeded, want an error")
	}
}

func TestEncodeFolder(t *testing.T) {
	tests := map[string]string{
		"/Users/sam.lee/src/web.app": "-Users-sam-lee-src-web-app",
		"/home/dev_ops/x":            "-home-dev-ops-x",
		"/mnt/c/A1":                  "-mnt-c-A1",
	}
	for in, want := range tests {
		if got := encodeFolder(in); got != want {
			t.Errorf("encodeFolder(%q) = %q, want %q", in, got, want)
		}
	}
}
