package usage

import (
	"strings"
	"testing"
)

func TestSupersedes(t *testing.T) {
	transcript := &Record{Key: "msg_1:req_1", MessageID: "msg_1", RequestID: "req_1"}
	split := &Record{Key: "msg_2:req_1", MessageID: "msg_2", RequestID: "req_1"}
	telemetry := &Record{Key: "otel:req_1", RequestID: "req_1"}
	other := &Record{Key: "otel:req_2", RequestID: "req_2"}
	noReq := &Record{Key: "msg_3:", MessageID: "msg_3"}
	for _, tc := range []struct {
		name string
		r, t *Record
		want bool
	}{
		{"transcript over its telemetry", transcript, telemetry, true},
		{"second message of the same request", split, telemetry, true},
		{"another request", transcript, other, false},
		{"telemetry never supersedes", telemetry, transcript, false},
		{"transcripts are never merged by request", transcript, split, false},
		{"no request id", noReq, &Record{Key: "otel:"}, false},
	} {
		if got := tc.r.Supersedes(tc.t); got != tc.want {
			t.Errorf("%s: Supersedes = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !telemetry.FromTelemetry() || transcript.FromTelemetry() {
		t.Error("FromTelemetry wrong")
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"ann", true}, {"ann@example.com", true}, {"Zoë Müller", true},
		{"", false}, {" ann", false}, {"ann ", false}, {"a\tb", false}, {"a\x00b", false},
		{"\xff", false}, {strings.Repeat("x", MaxNameLength), true}, {strings.Repeat("x", MaxNameLength+1), false},
	} {
		err := ValidName("user", tc.name)
		if (err == nil) != tc.ok || (err != nil && ErrorCode(err) != EINVALID) {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
