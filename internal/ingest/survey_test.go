package ingest

import (
	"context"
	"errors"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/source/claude"
)

// A run takes the files its survey listed, each as far as it has grown by
// the time it is read; a file made after the survey waits for the next run.
func TestRunSurveyReadsWhatTheSurveyListed(t *testing.T) {
	d := newClaudeDir(t)
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	b := msgLine{MsgID: "msg_b", ReqID: "req_b", UUID: "ub", Output: 7}.String()
	c := msgLine{MsgID: "msg_c", ReqID: "req_c", UUID: "uc", Output: 11}.String()
	d.write("s1.jsonl", lines(userLine, a))
	src := claude.New([]string{d.root})
	sink := newRefSink()
	in := NewFromSource(sink, src, nil, Options{})

	sv := StartSurvey(context.Background(), src, nil)
	sv.Wait()
	d.append("s1.jsonl", b+"\n")
	d.write("s2.jsonl", lines(userLine, c))
	res, err := in.RunSurvey(context.Background(), sv)
	if err != nil {
		t.Fatal(err)
	}
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 7})
	if res.FilesScanned != 1 {
		t.Errorf("FilesScanned = %d, want 1 (the file the survey listed)", res.FilesScanned)
	}

	mustRun(t, in)
	wantOutputs(t, sink, map[string]int64{"msg_a:req_a": 5, "msg_b:req_b": 7, "msg_c:req_c": 11})
}

func TestRunSurveyOfAnotherSourceFails(t *testing.T) {
	d := newClaudeDir(t)
	d.write("s1.jsonl", lines(userLine, msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()))
	sink := newRefSink()
	in := New(sink, []string{d.root}, nil, Options{})
	sv := StartSurvey(context.Background(), claude.New([]string{d.root}), nil)
	if _, err := in.RunSurvey(context.Background(), sv); err == nil {
		t.Fatal("RunSurvey with another source's survey succeeded")
	}
	if len(sink.records) != 0 || sink.applies != 0 {
		t.Errorf("sink got %d records in %d applies, want none", len(sink.records), sink.applies)
	}
}

// A survey called off (its context cancelled) fails the run that takes it
// and writes nothing.
func TestRunSurveyCancelled(t *testing.T) {
	d := newClaudeDir(t)
	d.write("s1.jsonl", lines(userLine, msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()))
	src := claude.New([]string{d.root})
	sink := newRefSink()
	in := NewFromSource(sink, src, nil, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sv := StartSurvey(ctx, src, nil)
	sv.Wait()
	if _, err := in.RunSurvey(context.Background(), sv); !errors.Is(err, context.Canceled) {
		t.Fatalf("RunSurvey of a cancelled survey: err = %v, want context.Canceled", err)
	}
	if sink.applies != 0 {
		t.Errorf("sink got %d applies, want none", sink.applies)
	}
}
