package postgres

import (
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// as returns r under user.
func as(r usage.Record, user string) usage.Record {
	r.User = user
	return r
}

func TestUsersWriteOnlyTheirOwnRecords(t *testing.T) {
	alice := as(transcript("1", 50, 0), "alice")
	// Bob's copy of Alice's key, with more output: Prefer would take it.
	bobTakeover := as(transcript("1", 5000, 0), "bob")
	aliceTel := as(telemetry("2", 30, 0), "alice")
	// A transcript record of Bob carrying Alice's telemetry request id.
	bobSupersede := as(transcript("2", 1, 0), "bob")
	bobSupersede.MessageID, bobSupersede.Key = "msg_bob", usage.RecordKey("msg_bob", "req_2", "")
	bobTel := as(telemetry("1", 9000, time.Second), "bob")
	for _, tc := range []struct {
		name    string
		batches [][]usage.Record
		want    map[string]usage.Record // by key
	}{
		{"TakeOverAcrossBatches", [][]usage.Record{{alice}, {bobTakeover}},
			map[string]usage.Record{alice.Key: alice}},
		{"TakeOverInOneBatch", [][]usage.Record{{alice, bobTakeover}},
			map[string]usage.Record{alice.Key: alice}},
		{"SupersedeAcrossBatches", [][]usage.Record{{aliceTel}, {bobSupersede}},
			map[string]usage.Record{aliceTel.Key: aliceTel, bobSupersede.Key: bobSupersede}},
		{"SupersedeFirstThenTelemetry", [][]usage.Record{{bobSupersede}, {aliceTel}},
			map[string]usage.Record{aliceTel.Key: aliceTel, bobSupersede.Key: bobSupersede}},
		{"SupersedeInOneBatch", [][]usage.Record{{aliceTel, bobSupersede}},
			map[string]usage.Record{aliceTel.Key: aliceTel, bobSupersede.Key: bobSupersede}},
		{"TelemetryKeyTakeOver", [][]usage.Record{{as(telemetry("1", 50, 0), "alice")}, {bobTel}},
			map[string]usage.Record{bobTel.Key: as(telemetry("1", 50, 0), "alice")}},
		// The owner still replaces and supersedes their own records.
		{"OwnerReplaces", [][]usage.Record{{alice}, {as(transcript("1", 70, 0), "alice")}},
			map[string]usage.Record{alice.Key: as(transcript("1", 70, 0), "alice")}},
		{"OwnerSupersedes", [][]usage.Record{{aliceTel}, {as(transcript("2", 1, 0), "alice")}},
			map[string]usage.Record{transcript("2", 1, 0).Key: as(transcript("2", 1, 0), "alice")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t)
			for _, b := range tc.batches {
				apply(t, s, b...)
			}
			got := map[string]usage.Record{}
			for _, r := range all(t, s) {
				got[r.Key] = r
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Records() = %+v, want %+v", got, tc.want)
			}
			for k, w := range tc.want {
				w.Cost, _ = storetest.Prices.Price(&w)
				if got[k] != w {
					t.Errorf("record %s = %+v, want %+v", k, got[k], w)
				}
			}
		})
	}
}
