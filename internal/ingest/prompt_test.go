package ingest

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

func TestParsePrompt(t *testing.T) {
	src := Source{SessionID: "from-path", Project: "/from/path"}
	const base = `"uuid":"u1","sessionId":"s1","cwd":"/p","timestamp":"2026-06-15T10:00:00.5Z"`
	long := strings.Repeat("é", usage.MaxPromptText) // two bytes each
	for _, tc := range []struct {
		name, line, want string
	}{
		{"String", `{"type":"user",` + base + `,"message":{"role":"user","content":"fix the \"bug\"\nplease"}}`, "fix the \"bug\"\nplease"},
		{"TextBlocks", `{"type":"user",` + base + `,"message":{"content":[{"type":"text","text":"<ide_opened_file>x.go</ide_opened_file>"},{"type":"text","text":" one "},{"type":"image","source":{}},{"type":"text","text":"two"}]}}`, "one\ntwo"},
		{"SlashCommand", `{"type":"user",` + base + `,"message":{"content":"<command-message>design-sync</command-message>\n<command-name>/design-sync</command-name>\n<command-args>all pages</command-args>"}}`, "/design-sync all pages"},
		{"SlashCommandNoArgs", `{"type":"user",` + base + `,"message":{"content":"<command-name>/exit</command-name>\n<command-message>exit</command-message>\n<command-args></command-args>"}}`, "/exit"},
		{"Long", `{"type":"user",` + base + `,"message":{"content":"` + long + `"}}`, long[:usage.MaxPromptText]},
		{"ToolResult", `{"type":"user",` + base + `,"message":{"content":[{"tool_use_id":"t1","type":"tool_result","content":"ok"}]}}`, ""},
		{"Sidechain", `{"type":"user","isSidechain":true,` + base + `,"message":{"content":"subagent task"}}`, ""},
		{"Meta", `{"type":"user","isMeta":true,` + base + `,"message":{"content":"Caveat: ..."}}`, ""},
		{"CompactSummary", `{"type":"user","isCompactSummary":true,` + base + `,"message":{"content":"This session is being continued"}}`, ""},
		{"Interrupted", `{"type":"user",` + base + `,"message":{"content":[{"type":"text","text":"[Request interrupted by user]"}]}}`, ""},
		{"LocalCommandOutput", `{"type":"user",` + base + `,"message":{"content":"<local-command-stdout>See ya!</local-command-stdout>"}}`, ""},
		{"TaskNotification", `{"type":"user",` + base + `,"message":{"content":"<task-notification>\n<task-id>b1</task-id>"}}`, ""},
		{"OnlyContext", `{"type":"user",` + base + `,"message":{"content":[{"type":"text","text":"<system-reminder>x</system-reminder>"}]}}`, ""},
		{"Empty", `{"type":"user",` + base + `,"message":{"content":"  "}}`, ""},
		{"Assistant", `{"type":"assistant",` + base + `,"message":{"content":"user"}}`, ""},
		{"NoTimestamp", `{"type":"user","uuid":"u1","message":{"content":"hi"}}`, ""},
		{"CutShort", `{"type":"user",` + base + `,"message":{"content":"hi`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := ParsePrompt([]byte(tc.line), &src)
			if ok != (tc.want != "") || p.Text != tc.want {
				t.Fatalf("ParsePrompt = %q, %v; want %q", p.Text, ok, tc.want)
			}
			if ref, refOK := referenceParsePrompt([]byte(tc.line), &src); refOK != ok || ref != p {
				t.Errorf("reference = %+v, %v; ParsePrompt = %+v, %v", ref, refOK, p, ok)
			}
			if ok && (p.Key != "s1:u1" || p.SessionID != "s1" || p.Project != "/p" || p.Timestamp.Nanosecond() != 5e8) {
				t.Errorf("prompt = %+v, want key s1:u1 of session s1 in /p at .5 s", p)
			}
		})
	}
	// The path fills in what the line lacks.
	p, ok := ParsePrompt([]byte(`{"type":"user","timestamp":"2026-06-15T10:00:00Z","message":{"content":"hi"}}`), &src)
	if !ok || p.SessionID != "from-path" || p.Project != "/from/path" || !strings.HasPrefix(p.Key, "from-path:sha256:") {
		t.Errorf("prompt without ids = %+v, %v; want the path's session and project and a hash key", p, ok)
	}
}

// writeSession writes a session transcript and one subagent transcript
// under root in the layout of Claude Code 2.1.
func writeSession(t *testing.T, root string, meta []byte) (session, subagent, metaPath string) {
	t.Helper()
	dir := filepath.Join(root, "projects", "-p")
	sub := filepath.Join(dir, "s1", "subagents")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	session = filepath.Join(dir, "s1.jsonl")
	subagent = filepath.Join(sub, "agent-a1.jsonl")
	metaPath = filepath.Join(sub, "agent-a1.meta.json")
	const ids = `"sessionId":"s1","cwd":"/p","version":"2.1.190"`
	mainLines := `{"type":"user","uuid":"p1",` + ids + `,"timestamp":"2026-06-15T10:00:00Z","message":{"content":"research it"}}
{"type":"assistant","uuid":"a1",` + ids + `,"timestamp":"2026-06-15T10:00:01Z","requestId":"r1","message":{"id":"m1","model":"claude-opus-4-7","usage":{"input_tokens":10,"output_tokens":5}}}
{"type":"progress",` + ids + `,"timestamp":"2026-06-15T10:00:03Z","data":{"type":"agent_progress","message":{"type":"assistant","uuid":"a2","requestId":"r2","timestamp":"2026-06-15T10:00:02Z","message":{"id":"m2","model":"claude-opus-4-7","usage":{"input_tokens":20,"output_tokens":7}}}}}
`
	subLines := `{"type":"user","isSidechain":true,"uuid":"q1",` + ids + `,"timestamp":"2026-06-15T10:00:01.5Z","message":{"content":"the task"}}
{"type":"assistant","isSidechain":true,"uuid":"a2",` + ids + `,"attributionSkill":"deep-research","attributionAgent":"general-purpose","timestamp":"2026-06-15T10:00:02Z","requestId":"r2","message":{"id":"m2","model":"claude-opus-4-7","usage":{"input_tokens":20,"output_tokens":7}}}
{"type":"assistant","isSidechain":true,"uuid":"a3",` + ids + `,"attributionAgent":"general-purpose","timestamp":"2026-06-15T10:00:04Z","requestId":"r3","message":{"id":"m3","model":"claude-opus-4-7","usage":{"input_tokens":30,"output_tokens":9}}}
`
	for path, data := range map[string]string{session: mainLines, subagent: subLines} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if meta != nil {
		if err := os.WriteFile(metaPath, meta, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return session, subagent, metaPath
}

func TestSubagentTypeAndAttribution(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta []byte
		fifo bool
		want string // agent of the subagent's records
	}{
		{"Meta", []byte(`{"agentType":"general-purpose","description":"d","toolUseId":"toolu_1"}`), false, "general-purpose"},
		{"NoMeta", nil, false, ""},
		{"BrokenMeta", []byte(`{"agentType":`), false, ""},
		{"HugeMeta", []byte(`{"agentType":"x","pad":"` + strings.Repeat("x", maxMetaBytes) + `"}`), false, ""},
		{"FIFOMeta", nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			_, _, metaPath := writeSession(t, root, tc.meta)
			if tc.fifo {
				if err := syscall.Mkfifo(metaPath, 0o644); err != nil {
					t.Skip("no FIFOs here:", err)
				}
			}
			sink := newRefSink()
			// One file per batch, so that the progress line's copy of m2
			// and the subagent's own meet in the sink in either order.
			in := New(sink, []string{root}, nil, Options{BatchFiles: 1})
			if _, err := in.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			want := map[string][2]string{ // key -> agent label, attribution
				"m1:r1": {usage.AgentMain, ""},
				"m2:r2": {cmp.Or(tc.want, usage.AgentSubagent), "skill:deep-research"},
				"m3:r3": {cmp.Or(tc.want, usage.AgentSubagent), "agent:general-purpose"},
			}
			if len(sink.records) != len(want) {
				t.Fatalf("stored %d records, want %d", len(sink.records), len(want))
			}
			for key, w := range want {
				r := sink.records[key]
				if got := [2]string{r.AgentLabel(), r.Attribution}; got != w {
					t.Errorf("record %s: agent %q, attribution %q; want %q, %q", key, got[0], got[1], w[0], w[1])
				}
				if r.Agent != tc.want && key != "m1:r1" {
					t.Errorf("record %s: Agent %q, want %q", key, r.Agent, tc.want)
				}
			}
			if len(sink.prompts) != 1 || sink.prompts["s1:p1"].Text != "research it" {
				t.Errorf("prompts = %+v, want the session's one prompt (the subagent's task is no prompt)", sink.prompts)
			}
		})
	}
}

func TestAgentsAndPromptsOfRealCorpus(t *testing.T) {
	root := filepath.Join(sharedTestdata(t), "claude-real-2026")
	sink := newRefSink()
	if _, err := New(sink, []string{root}, nil, Options{BatchRecords: 100}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The same corpus read line by line with the reference decoders, each
	// file with the type its .meta.json names.
	want := newRefSink()
	projectsDir, paths := corpusTranscripts(t, "claude-real-2026")
	for _, p := range paths {
		src := SourceOf(projectsDir, p)
		if src.MetaPath != "" {
			src.Agent = readAgentType(src.MetaPath, slog.New(slog.DiscardHandler))
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var b usage.Batch
		for _, line := range strings.SplitAfter(string(data), "\n") {
			if !strings.HasSuffix(line, "\n") {
				continue // a torn last line counts once it is complete
			}
			if rec, ok, _ := referenceParseLine([]byte(line), &src); ok {
				b.Records = append(b.Records, rec)
			} else if pr, ok := referenceParsePrompt([]byte(line), &src); ok {
				b.Prompts = append(b.Prompts, pr)
			}
		}
		if err := want.Apply(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	agents, skills := map[string]int{}, map[string]int{}
	for key, w := range want.records {
		got, ok := sink.records[key]
		if !ok || got.AgentLabel() != w.AgentLabel() || got.Attribution != w.Attribution {
			t.Errorf("record %s: agent %q, attribution %q (stored %v); want %q, %q", key, got.AgentLabel(), got.Attribution, ok, w.AgentLabel(), w.Attribution)
		}
		agents[w.AgentLabel()]++
		skills[w.Attribution]++
	}
	if len(sink.records) != len(want.records) {
		t.Errorf("stored %d records, want %d", len(sink.records), len(want.records))
	}
	if len(sink.prompts) != len(want.prompts) {
		t.Errorf("stored %d prompts, want %d", len(sink.prompts), len(want.prompts))
	}
	for key, w := range want.prompts {
		if got := sink.prompts[key]; got != w {
			t.Errorf("prompt %s = %+v, want %+v", key, got, w)
		}
	}
	t.Logf("agents %v; attributions %v; %d prompts", agents, skills, len(want.prompts))
	if agents[usage.AgentMain] == 0 || agents["general-purpose"] == 0 || skills["skill:deep-research"] == 0 || len(want.prompts) == 0 {
		t.Errorf("want main and general-purpose records, skill:deep-research and prompts in the corpus")
	}
}

// TestHugeAttributionIsCut: an attribution name is a label, cut like a
// subagent type to maxNameBytes, so that one odd line cannot put a
// megabyte into every row of the breakdown and into the database.
func TestHugeAttributionIsCut(t *testing.T) {
	name := strings.Repeat("é", 100_000)
	line := `{"type":"assistant","uuid":"a1","sessionId":"s","timestamp":"2026-06-15T10:00:02Z","requestId":"r1","attributionSkill":"` + name +
		`","message":{"id":"m1","model":"claude-opus-4-7","usage":{"input_tokens":20,"output_tokens":7}}}`
	r, ok, err := ParseLine([]byte(line), &Source{SessionID: "s", Project: "/p"})
	if err != nil || !ok {
		t.Fatalf("ParseLine: %v %v", ok, err)
	}
	if want := "skill:" + name[:maxNameBytes]; r.Attribution != want {
		t.Errorf("attribution of %d bytes, want the first %d bytes of the name", len(r.Attribution), maxNameBytes)
	}
}
