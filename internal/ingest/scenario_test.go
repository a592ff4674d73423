package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// msgLine is an assistant line as Claude Code writes it.
type msgLine struct {
	MsgID, ReqID, UUID string
	Output             int64
	Session, CWD       string
	Timestamp          string
	Content            string // text of the content block
	Sidechain          bool
}

func (m msgLine) message() map[string]any {
	return map[string]any{
		"model": "claude-opus-4-6", "id": m.MsgID, "type": "message", "role": "assistant",
		"content": []any{map[string]any{"type": "text", "text": m.Content}},
		"usage": map[string]any{
			"input_tokens": 10, "output_tokens": m.Output, "cache_creation_input_tokens": 100,
			"cache_read_input_tokens": 1000,
			"cache_creation":          map[string]any{"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60},
		},
	}
}

func (m msgLine) defaults() msgLine {
	if m.Session == "" {
		m.Session = "s1"
	}
	if m.CWD == "" {
		m.CWD = "/work/app"
	}
	if m.Timestamp == "" {
		m.Timestamp = "2026-02-01T10:00:00.000Z"
	}
	return m
}

func (m msgLine) String() string {
	m = m.defaults()
	l := map[string]any{
		"parentUuid": nil, "isSidechain": m.Sidechain, "userType": "external", "cwd": m.CWD,
		"sessionId": m.Session, "version": "2.1.50", "gitBranch": "main",
		"message": m.message(), "requestId": m.ReqID, "type": "assistant", "uuid": m.UUID, "timestamp": m.Timestamp,
	}
	return mustJSON(l)
}

// progress wraps the message in an agent_progress line of the parent.
func (m msgLine) progress(uuid string) string {
	m = m.defaults()
	l := map[string]any{
		"isSidechain": false, "cwd": m.CWD, "sessionId": m.Session, "version": "2.1.50", "type": "progress",
		"data": map[string]any{
			"message": map[string]any{
				"type": "assistant", "timestamp": m.Timestamp, "message": m.message(),
				"requestId": m.ReqID, "uuid": m.UUID,
			},
			"normalizedMessages": []any{}, "type": "agent_progress", "agentId": "a1",
		},
		"uuid": uuid, "timestamp": m.Timestamp,
	}
	return mustJSON(l)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

const userLine = `{"type":"user","message":{"role":"user","content":"hi"},"uuid":"u0","timestamp":"2026-02-01T09:59:00.000Z","sessionId":"s1"}`

// claudeDir is a temporary ~/.claude with one project folder.
type claudeDir struct {
	t       *testing.T
	root    string
	project string
}

func newClaudeDir(t *testing.T) *claudeDir {
	t.Helper()
	root := t.TempDir()
	project := filepath.Join(root, "projects", "-work-app")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	return &claudeDir{t: t, root: root, project: project}
}

// write replaces (or creates) the file at rel under the project folder.
func (d *claudeDir) write(rel, content string) string {
	d.t.Helper()
	p := filepath.Join(d.project, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		d.t.Fatal(err)
	}
	return p
}

func (d *claudeDir) append(rel, content string) {
	d.t.Helper()
	f, err := os.OpenFile(filepath.Join(d.project, rel), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		d.t.Fatal(err)
	}
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func mustRun(t *testing.T, in *Ingester) Result {
	t.Helper()
	res, err := in.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// outputs returns the output tokens of each stored record by key.
func (s *refSink) outputs() map[string]int64 {
	m := map[string]int64{}
	for k, r := range s.records {
		m[k] = r.Output
	}
	return m
}

func wantOutputs(t *testing.T, s *refSink, want map[string]int64) {
	t.Helper()
	got := s.outputs()
	if len(got) != len(want) {
		t.Fatalf("stored records = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("stored records = %v, want %v", got, want)
		}
	}
}

func TestTornLastLineCountedOnceWhenComplete(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	b := msgLine{MsgID: "msg_b", ReqID: "req_b", UUID: "ub", Output: 7}.String()
	d.write("s1.jsonl", lines(userLine, a)+b[:len(b)/2])
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})

	res := mustRun(t, in)
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5})
	if res.BadLines != 0 {
		t.Errorf("torn line counted as bad: %+v", res)
	}
	st := sink.files[filepath.Join(d.project, "s1.jsonl")]
	if want := int64(len(userLine) + 1 + len(a) + 1); st.Offset != want {
		t.Errorf("offset = %d, want %d (just past the last complete line)", st.Offset, want)
	}

	d.append("s1.jsonl", b[len(b)/2:]+"\n")
	mustRun(t, in)
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 7})
	if tok, n := sink.totals(); n != 2 || tok.Output != 12 {
		t.Errorf("totals = %+v over %d records, want output 12 over 2", tok, n)
	}
}

func TestCompleteUnterminatedLineAppliedWithoutMovingOffset(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	path := d.write("s1.jsonl", a) // whole JSON, no newline yet
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	mustRun(t, in)
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5})
	if off := sink.files[path].Offset; off != 0 {
		t.Errorf("offset = %d, want 0: the line is not terminated", off)
	}
	d.append("s1.jsonl", "\n"+msgLine{MsgID: "msg_b", ReqID: "req_b", UUID: "ub", Output: 1}.String()+"\n")
	mustRun(t, in)
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 1})
}

func TestTruncatedFileIsReadAgain(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	b := msgLine{MsgID: "msg_b", ReqID: "req_b", UUID: "ub", Output: 7}.String()
	c := msgLine{MsgID: "msg_c", ReqID: "req_c", UUID: "uc", Output: 9}.String()
	path := d.write("s1.jsonl", lines(a, b))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	mustRun(t, in)

	// Shrink in place (same inode): the stored offset is past the end.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	d.append("s1.jsonl", lines(c))
	res := mustRun(t, in)
	if res.FilesChanged != 1 || res.Records != 1 {
		t.Errorf("Run after truncation = %+v, want the one new line read", res)
	}
	// Records of the old content stay; nothing is counted twice.
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 7, "msg_c:req_c": 9})
	if off := sink.files[path].Offset; off != int64(len(c)+1) {
		t.Errorf("offset = %d, want %d", off, len(c)+1)
	}
}

func TestFileReplacedUnderNewInode(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	b := msgLine{MsgID: "msg_b", ReqID: "req_b", UUID: "ub", Output: 7}.String()
	path := d.write("s1.jsonl", lines(a))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	mustRun(t, in)
	before := sink.files[path]

	// A longer file renamed over the old one: same name, new inode, and
	// its first bytes differ from what was read.
	tmp := d.write("s1.tmp", lines(b, a, userLine))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	mustRun(t, in)
	after := sink.files[path]
	if after.Inode == before.Inode && before.Inode != 0 {
		t.Fatalf("test setup: inode did not change")
	}
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 7})
	if after.Offset != int64(len(lines(b, a, userLine))) {
		t.Errorf("offset = %d, want the whole new file", after.Offset)
	}
}

func TestFileRewrittenInPlaceIsReadAgain(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	b := msgLine{MsgID: "msg_b", ReqID: "req_b", UUID: "ub", Output: 7}.String()
	path := d.write("s1.jsonl", lines(a))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	mustRun(t, in)
	// Same inode, longer content, and the stored offset no longer falls
	// on a line boundary.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(lines(userLine[:len(userLine)-1]+`,"x":1}`, b, a))
	f.Close()
	mustRun(t, in)
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 7})
}

func TestDeletedFileKeepsItsRecords(t *testing.T) {
	d := newClaudeDir(t)
	path := d.write("s1.jsonl", lines(msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()))
	d.write("s2.jsonl", lines(msgLine{MsgID: "msg_b", ReqID: "req_b", UUID: "ub", Output: 7, Session: "s2"}.String()))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	mustRun(t, in)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, in)
	if res.FilesScanned != 1 {
		t.Errorf("Run = %+v, want 1 file scanned", res)
	}
	// IngestFiles of the vanished path is quiet too.
	if _, err := in.IngestFiles(context.Background(), []string{path}); err != nil {
		t.Errorf("IngestFiles(deleted) = %v, want no error", err)
	}
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 7})
}

func TestOneResponseInMainSubagentAndProgressCountedOnce(t *testing.T) {
	d := newClaudeDir(t)
	// The subagent streams one response as three lines (one per content
	// block); the last carries the final output count. The parent logs
	// two of them as progress.
	m := msgLine{MsgID: "msg_x", ReqID: "req_x", Session: "parent", Sidechain: true}
	streamed := func(uuid string, out int64) msgLine { c := m; c.UUID, c.Output = uuid, out; return c }
	d.write("parent.jsonl", lines(userLine, streamed("u1", 1).progress("p1"), streamed("u2", 3).progress("p2")))
	d.write("parent/subagents/agent-a1.jsonl", lines(streamed("u1", 1).String(), streamed("u2", 3).String(), streamed("u3", 42).String()))
	d.write("agent-a1.jsonl", lines(streamed("u2", 3).String())) // 2.0-era layout copy
	sink := newRefSink()
	for _, workers := range []int{1, 2} {
		in := New(sink, []string{d.root}, nil, Options{Workers: workers})
		mustRun(t, in)
	}
	wantOutputs(t, sink, map[string]int64{"msg_x:req_x": 42})
	if r := sink.records["msg_x:req_x"]; r.SessionID != "parent" || !r.IsSidechain {
		t.Errorf("kept %+v, want session parent, sidechain", r)
	}

	// The sink sees the in-batch merge: one record for the three copies.
	sink = newRefSink()
	res := mustRun(t, New(sink, []string{d.root}, nil, Options{}))
	if res.Records != 6 || res.Written != 1 {
		t.Errorf("Run = %+v, want 6 records parsed, 1 written", res)
	}
}

func TestMalformedLinesAreCounted(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	path := d.write("s1.jsonl", lines(
		"not json at all",
		a[:len(a)-10], // a cut-short usage line
		"",            // blank lines are not errors
		`{"type":"assistant","message":{"usage":{"output_tokens":1}},"timestamp":"yesterday"}`,
		a,
	))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	res := mustRun(t, in)
	if res.BadLines != 3 {
		t.Errorf("BadLines = %d, want 3", res.BadLines)
	}
	if got := sink.files[path].BadLines; got != 3 {
		t.Errorf("FileState.BadLines = %d, want 3", got)
	}
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5})

	// The count is kept across runs that resume mid-file.
	d.append("s1.jsonl", lines("{oops"))
	res = mustRun(t, in)
	if res.BadLines != 1 || sink.files[path].BadLines != 4 {
		t.Errorf("after append: Run.BadLines = %d, FileState.BadLines = %d, want 1 and 4", res.BadLines, sink.files[path].BadLines)
	}
}

func TestHugeLine(t *testing.T) {
	d := newClaudeDir(t)
	big := msgLine{MsgID: "msg_big", ReqID: "req_big", UUID: "ubig", Output: 99, Content: strings.Repeat(`x"\y`, 1_500_000/4)}.String()
	if len(big) < 1_500_000 {
		t.Fatalf("line is only %d bytes", len(big))
	}
	bigUser := `{"type":"user","message":{"content":"` + strings.Repeat("z", 2_000_000) + `"}}`
	d.write("s1.jsonl", lines(bigUser, big, msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 1}.String()))
	sink := newRefSink()
	res := mustRun(t, New(sink, []string{d.root}, nil, Options{}))
	wantOutputs(t, sink, map[string]int64{"msg_big:req_big": 99, "msg_a:req_a": 1})
	if res.BadLines != 0 {
		t.Errorf("BadLines = %d, want 0", res.BadLines)
	}

	// Over MaxLineBytes, a line is skipped and counted, and the next one
	// is still read.
	sink = newRefSink()
	res = mustRun(t, New(sink, []string{d.root}, nil, Options{MaxLineBytes: 1 << 20}))
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 1})
	if res.BadLines != 2 {
		t.Errorf("BadLines = %d, want 2", res.BadLines)
	}
}

func TestNonUTF8AndJunk(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5, CWD: "/w/caf\xe9", Content: "bin\xff\xfe\x00ary"}.String()
	a = strings.Replace(a, `\ufffd`, "\xe9", 1) // json.Marshal fixed it; put the raw byte back
	junk := "\x00\x01\xff{\"usage\"\xfe\n\xc3\x28}{]][[\"usage\":"
	// junk holds a newline: two bad lines each time it is complete, and
	// an unterminated tail that is left for later, not counted.
	d.write("s1.jsonl", lines(junk, a)+junk)
	sink := newRefSink()
	res := mustRun(t, New(sink, []string{d.root}, nil, Options{}))
	if res.BadLines != 3 {
		t.Errorf("BadLines = %d, want 3", res.BadLines)
	}
	r, ok := sink.records["msg_a:req_a"]
	if !ok || r.Output != 5 {
		t.Fatalf("records = %v", sink.outputs())
	}
	if r.Project != "/w/caf\uFFFD" {
		t.Errorf("project = %q, want invalid UTF-8 replaced", r.Project)
	}
}

func TestApplyErrorThenRerunGivesSameTotals(t *testing.T) {
	root := filepath.Join(sharedTestdata(t), "claude-real")
	want := loadExpected(t)
	for _, failAt := range []int{1, 2, 5, 9} {
		sink := newRefSink()
		sink.failAfter = failAt
		opts := Options{BatchRecords: 200, BatchFiles: 3}
		_, err := New(sink, []string{root}, nil, opts).Run(context.Background())
		if err == nil {
			t.Fatalf("failAt %d: Run succeeded, want the Apply error", failAt)
		}
		// Every stored offset is covered by stored records: the partial
		// state is a prefix of the clean one.
		sink.failAfter = 0
		res, err := New(sink, []string{root}, nil, opts).Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.FilesChanged == 0 {
			t.Errorf("failAt %d: rerun read nothing", failAt)
		}
		compareReports(t, sink.report(), want)
	}

	// The same Ingester recovers too: its cached states only hold what
	// was applied.
	sink := newRefSink()
	sink.failAfter = 3
	in := New(sink, []string{root}, nil, Options{BatchRecords: 100})
	if _, err := in.Run(context.Background()); err == nil {
		t.Fatal("Run succeeded, want the Apply error")
	}
	if _, err := in.IngestFiles(context.Background(), mustDiscover(t, root)); err != nil {
		t.Fatal(err)
	}
	compareReports(t, sink.report(), want)
}

// TestApplyErrorMidFileThenRerunReadsTheRest stops a run after the
// batch that holds the first pieces of a file: the rerun, which finds the
// file as it was, must read the rest of it rather than take it for read.
func TestApplyErrorMidFileThenRerunReadsTheRest(t *testing.T) {
	d := newClaudeDir(t)
	n := 3 * pieceRecords
	var ls []string
	for i := range n {
		ls = append(ls, usageLine(strconv.Itoa(i), `{"output_tokens":1}`))
	}
	d.write("s1.jsonl", lines(ls...))
	sink := newRefSink()
	sink.failAfter = 2
	opts := Options{BatchRecords: pieceRecords}
	if _, err := New(sink, []string{d.root}, nil, opts).Run(t.Context()); err == nil {
		t.Fatal("Run succeeded, want the Apply error")
	}
	if got := len(sink.records); got == 0 || got >= n {
		t.Fatalf("after the failed run %d records stored, want some of %d", got, n)
	}
	sink.failAfter = 0
	if _, err := New(sink, []string{d.root}, nil, opts).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := len(sink.records); got != n {
		t.Errorf("after the rerun %d records stored, want %d", got, n)
	}
}

func mustDiscover(t *testing.T, roots ...string) []string {
	t.Helper()
	paths, err := Discover(context.Background(), roots, nil)
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestDiscoverAllLayouts(t *testing.T) {
	d := newClaudeDir(t)
	want := []string{
		d.write("s1.jsonl", ""),
		d.write("agent-a0d2168.jsonl", ""),
		d.write("s1/subagents/agent-ab727a3.jsonl", ""),
		d.write("s1/subagents/agent-acompact-b7234e.jsonl", ""),
		d.write("s1/subagents/workflows/w1/agent-x.jsonl", ""),
	}
	d.write("s1/tool-results/out.txt", "")
	d.write("notes.json", "")
	// A second root whose projects folder is a symlink, and one that
	// does not exist.
	other := t.TempDir()
	real := filepath.Join(t.TempDir(), "projects")
	if err := os.MkdirAll(filepath.Join(real, "-x"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(real, "-x", "s9.jsonl"), nil, 0o644)
	if err := os.Symlink(real, filepath.Join(other, "projects")); err != nil {
		t.Fatal(err)
	}
	want = append(want, filepath.Join(other, "projects", "-x", "s9.jsonl"))

	got := mustDiscover(t, d.root, filepath.Join(d.root, "missing"), other, d.root)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Discover = %v\nwant %v", got, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Discover(ctx, []string{d.root}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Discover(cancelled) = %v, want context.Canceled", err)
	}
}

func TestSourceOf(t *testing.T) {
	dir := "/home/u/.claude/projects"
	for _, tc := range []struct{ path, session, project string }{
		{dir + "/-Users-me-app/3f9394bc.jsonl", "3f9394bc", "/Users/me/app"},
		{dir + "/-Users-me-app/agent-a0d2168.jsonl", "agent-a0d2168", "/Users/me/app"},
		{dir + "/-Users-me-app/3f9394bc/subagents/agent-acompact-b7.jsonl", "3f9394bc", "/Users/me/app"},
		{dir + "/-Users-me-app/3f9394bc/subagents/workflows/w/agent-1.jsonl", "3f9394bc", "/Users/me/app"},
		{"/elsewhere/-tmp-x/abc.jsonl", "abc", "/tmp/x"},
	} {
		src := SourceOf(dir, tc.path)
		if src.SessionID != tc.session || src.Project != tc.project || src.Path != tc.path {
			t.Errorf("SourceOf(%s) = %+v, want session %q, project %q", tc.path, src, tc.session, tc.project)
		}
	}
}

func TestLineFallsBackToPathForSessionAndProject(t *testing.T) {
	d := newClaudeDir(t)
	l := `{"type":"assistant","message":{"id":"m1","model":"claude-haiku-4-5","usage":{"input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":3}},"timestamp":"2026-01-01T00:00:00Z"}`
	path := d.write("sess-9/subagents/agent-1.jsonl", lines(l, l))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	if _, err := in.IngestFiles(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	r, ok := sink.records["m1:"]
	if !ok || len(sink.records) != 1 {
		t.Fatalf("records = %v", sink.records)
	}
	want := usage.Tokens{Input: 1, Output: 2, CacheCreation5m: 3}
	if r.SessionID != "sess-9" || r.Project != "/work/app" || r.Tokens != want {
		t.Errorf("record = %+v, want session sess-9, project /work/app, tokens %+v", r, want)
	}
}

func TestIngestFilesReadsOnlyThoseFiles(t *testing.T) {
	d := newClaudeDir(t)
	p1 := d.write("s1.jsonl", lines(msgLine{MsgID: "m1", ReqID: "r", UUID: "u1", Output: 1}.String()))
	d.write("s2.jsonl", lines(msgLine{MsgID: "m2", ReqID: "r", UUID: "u2", Output: 2}.String()))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	res, err := in.IngestFiles(context.Background(), []string{p1, p1})
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesScanned != 1 {
		t.Errorf("IngestFiles = %+v, want one file", res)
	}
	wantOutputs(t, sink, map[string]int64{"m1:r": 1})
	// A run after that reads only the other file.
	if res := mustRun(t, in); res.FilesChanged != 1 {
		t.Errorf("Run = %+v, want 1 changed file", res)
	}
	wantOutputs(t, sink, map[string]int64{"m1:r": 1, "m2:r": 2})
}

func TestConcurrentRunsAreSerialised(t *testing.T) {
	d := newClaudeDir(t)
	for i := range 20 {
		d.write("s"+string(rune('a'+i))+".jsonl", lines(msgLine{MsgID: "m" + string(rune('a'+i)), ReqID: "r", UUID: "u", Output: int64(i)}.String()))
	}
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	errs := make(chan error, 4)
	for range 4 {
		go func() { _, err := in.Run(context.Background()); errs <- err }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.records) != 20 {
		t.Errorf("%d records, want 20", len(sink.records))
	}
}
