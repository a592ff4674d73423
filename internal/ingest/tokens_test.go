package ingest

import (
	"errors"
	"math"
	"strconv"
	"testing"
)

// usageLine is an assistant line whose usage object is u.
func usageLine(id, u string) string {
	return `{"type":"assistant","uuid":"u-` + id + `","sessionId":"s1","timestamp":"2026-02-01T10:00:00Z",` +
		`"requestId":"req_` + id + `","message":{"id":"msg_` + id + `","model":"claude-opus-4-6","usage":` + u + `}}`
}

func TestTokenCountsAreClampedAtTheParser(t *testing.T) {
	src := &Source{Path: "/p/-a/s1.jsonl", SessionID: "s1", Project: "/a"}
	for _, tc := range []struct {
		name, usage string
		wantOK      bool
		wantErr     error // nil, ErrBadValue or ErrBadLine
		wantOutput  int64
	}{
		{"sane", `{"output_tokens":7}`, true, nil, 7},
		{"negative output reads as 0", `{"output_tokens":-1,"input_tokens":3}`, true, ErrBadValue, 0},
		{"negative 1h cache write", `{"output_tokens":2,"cache_creation":{"ephemeral_1h_input_tokens":-9}}`, true, ErrBadValue, 2},
		{"at the bound", `{"output_tokens":1000000000}`, true, nil, 1_000_000_000},
		{"over the bound", `{"output_tokens":1000000001}`, false, ErrBadLine, 0},
		{"max int64", `{"output_tokens":9223372036854775807}`, false, ErrBadLine, 0},
		{"beyond int64", `{"input_tokens":99999999999999999999}`, false, ErrBadLine, 0},
		{"beyond float64", `{"cache_read_input_tokens":1e400}`, false, ErrBadLine, 0},
		{"hugely negative", `{"input_tokens":-1e400,"output_tokens":4}`, true, ErrBadValue, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, ok, err := ParseLine([]byte(usageLine("a", tc.usage)), src)
			if ok != tc.wantOK || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("ParseLine = ok %v, %v; want ok %v, %v", ok, err, tc.wantOK, tc.wantErr)
			}
			if !ok {
				return
			}
			tk := rec.Tokens
			for _, v := range []int64{tk.Input, tk.Output, tk.CacheCreation5m, tk.CacheCreation1h, tk.CacheRead, tk.WebSearchRequests} {
				if v < 0 || v > MaxTokenCount {
					t.Errorf("record tokens %+v hold %d", tk, v)
				}
			}
			if rec.Output != tc.wantOutput {
				t.Errorf("output = %d, want %d", rec.Output, tc.wantOutput)
			}
		})
	}
}

func TestIngestCountsBadValuesAndNeverGoesNegative(t *testing.T) {
	d := newClaudeDir(t)
	max := strconv.FormatInt(math.MaxInt64, 10)
	d.write("s1.jsonl", lines(
		usageLine("a", `{"output_tokens":-1,"input_tokens":5}`),
		usageLine("b", `{"output_tokens":`+max+`}`),
		usageLine("c", `{"output_tokens":`+max+`}`),
		usageLine("d", `{"output_tokens":10}`),
	))
	sink := newRefSink()
	res := mustRun(t, New(sink, []string{d.root}, nil, Options{}))
	if res.BadValues != 1 || res.BadLines != 2 || res.Records != 2 {
		t.Errorf("result = %d records, %d bad lines, %d bad values; want 2, 2, 1", res.Records, res.BadLines, res.BadValues)
	}
	tot, n := sink.totals()
	if n != 2 || tot.Output != 10 || tot.Input != 5 {
		t.Errorf("totals = %+v over %d records, want output 10, input 5 over 2", tot, n)
	}
}
