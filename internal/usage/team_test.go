package usage

import (
	"strings"
	"testing"
	"time"
)

func TestResponseKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Record
		want string
	}{
		{"Transcript", Record{Key: "msg_1:req_1", MessageID: "msg_1", RequestID: "req_1"}, "req:req_1"},
		{"Telemetry", Record{Key: "otel:req_1", RequestID: "req_1"}, "req:req_1"},
		{"NoRequestID", Record{Key: "msg_1:", MessageID: "msg_1"}, "msg_1:"},
		{"LineKeyed", Record{Key: "line:uuid-1", RequestID: "req_1"}, "line:uuid-1"},
	} {
		if got := ResponseKey(&tc.r); got != tc.want {
			t.Errorf("%s: ResponseKey(%+v) = %q, want %q", tc.name, tc.r, got, tc.want)
		}
	}
}

func TestPreferAcross(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	rec := func(key string, output int64, d time.Duration) *Record {
		return &Record{Key: key, Timestamp: t0.Add(d), Tokens: Tokens{Output: output}}
	}
	for _, tc := range []struct {
		name   string
		r, old *Record
		want   bool
	}{
		{"MoreOutputWins", rec("otel:a", 10, time.Hour), rec("m:a", 9, 0), true},
		{"LessOutputLoses", rec("m:a", 9, 0), rec("otel:a", 10, time.Hour), false},
		{"TranscriptBeatsTelemetry", rec("m:a", 10, time.Hour), rec("otel:a", 10, 0), true},
		{"TelemetryLosesToTranscript", rec("otel:a", 10, 0), rec("m:a", 10, time.Hour), false},
		{"SameChannelEarlierWins", rec("m:a", 10, 0), rec("m:a", 10, time.Second), true},
		{"SameChannelLaterLoses", rec("otel:a", 10, time.Second), rec("otel:a", 10, 0), false},
	} {
		if got := tc.r.PreferAcross(tc.old); got != tc.want {
			t.Errorf("%s: PreferAcross = %v, want %v", tc.name, got, tc.want)
		}
		if tc.r.FromTelemetry() == tc.old.FromTelemetry() && tc.r.PreferAcross(tc.old) != tc.r.Prefer(tc.old) {
			t.Errorf("%s: PreferAcross differs from Prefer within one channel", tc.name)
		}
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
