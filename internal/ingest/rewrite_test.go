package ingest

import (
	"os"
	"testing"
	"time"
)

// rewriteInPlace replaces path's content without changing its inode and
// moves its mtime, as an editor writing in place does.
func rewriteInPlace(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestFileRewrittenInPlaceSameSizeIsReadAgain(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	b := msgLine{MsgID: "msg_b", ReqID: "req_b", UUID: "ub", Output: 7}.String()
	path := d.write("s1.jsonl", lines(a, b))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	mustRun(t, in)
	// Same inode, same size, a newline at the stored offset (the end),
	// different lines: only the fingerprint tells.
	c := msgLine{MsgID: "msg_c", ReqID: "req_c", UUID: "uc", Output: 8}.String()
	e := msgLine{MsgID: "msg_e", ReqID: "req_e", UUID: "ue", Output: 9}.String()
	rewriteInPlace(t, path, lines(c, e), time.Now().Add(time.Minute))
	if fi, _ := os.Stat(path); fi.Size() != int64(len(lines(a, b))) {
		t.Fatalf("test setup: size changed")
	}
	mustRun(t, in)
	// The old records stay (records are never dropped), the new ones are
	// read, and nothing counts twice.
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 7, "msg_c:req_c": 8, "msg_e:req_e": 9})
	// A run over the unchanged file reads nothing.
	if res := mustRun(t, in); res.BytesRead != 0 {
		t.Errorf("unchanged file: read %d bytes again", res.BytesRead)
	}
}

func TestFileRewrittenLongerWithNewlineAtOffsetIsReadAgain(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	path := d.write("s1.jsonl", lines(a))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	mustRun(t, in)
	// Truncated and rewritten longer before the next scan; the first new
	// line is as long as the old one, so the byte before the stored
	// offset is again a newline.
	c := msgLine{MsgID: "msg_c", ReqID: "req_c", UUID: "uc", Output: 8}.String()
	e := msgLine{MsgID: "msg_e", ReqID: "req_e", UUID: "ue", Output: 9}.String()
	if len(c) != len(a) {
		t.Fatalf("test setup: lines of %d and %d bytes", len(c), len(a))
	}
	rewriteInPlace(t, path, lines(c, e), time.Now().Add(time.Minute))
	mustRun(t, in)
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_c:req_c": 8, "msg_e:req_e": 9})
}

func TestAppendKeepsResuming(t *testing.T) {
	// The fingerprint must not make a plain append look like a rewrite.
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	d.write("s1.jsonl", lines(a))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	first := mustRun(t, in)
	b := msgLine{MsgID: "msg_b", ReqID: "req_b", UUID: "ub", Output: 7}.String()
	d.append("s1.jsonl", lines(b))
	res := mustRun(t, in)
	if res.BytesRead != int64(len(lines(b))) {
		t.Errorf("after an append: read %d bytes, want only the %d appended (first run read %d)", res.BytesRead, len(lines(b)), first.BytesRead)
	}
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 7})
}
