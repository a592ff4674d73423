// Package storetest is the contract suite of usage.Store: every
// implementation runs Run and so behaves the same. It tests the contract
// only, never a backend's internals.
package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Run runs the contract suite. open must return a new, empty store for
// each call and close it when the test ends (t.Cleanup); the suite also
// closes some stores itself, so Close must be safe to call twice.
//
// Timestamps in the suite have millisecond precision, the precision every
// store keeps.
func Run(t *testing.T, open func(t *testing.T) usage.Store) {
	t.Run("Apply", func(t *testing.T) {
		t.Run("Idempotent", func(t *testing.T) { testApplyIdempotent(t, open(t)) })
		t.Run("EmptyBatch", func(t *testing.T) { testApplyEmpty(t, open(t)) })
		t.Run("PreferLargerOutput", func(t *testing.T) { testPreferLargerOutput(t, open) })
		t.Run("PreferEarlierOnEqualOutput", func(t *testing.T) { testPreferEarlier(t, open) })
		t.Run("PreferIdenticalCopiesByOrder", func(t *testing.T) { testPreferIdenticalCopies(t, open) })
		t.Run("PreferAnyOrderConverges", func(t *testing.T) { testPreferConverges(t, open(t)) })
		t.Run("ReplacementMovesAggregates", func(t *testing.T) { testReplacementMovesAggregates(t, open(t)) })
		t.Run("NoMessageIDNeverMerged", func(t *testing.T) { testNoMessageID(t, open(t)) })
		t.Run("InvalidRecord", func(t *testing.T) { testInvalidRecord(t, open(t)) })
	})
	t.Run("FileStates", func(t *testing.T) {
		t.Run("RoundTrip", func(t *testing.T) { testFileStatesRoundTrip(t, open(t)) })
		t.Run("AtomicWithRecords", func(t *testing.T) { testFileStatesAtomic(t, open(t)) })
	})
	t.Run("Aggregate", func(t *testing.T) {
		t.Run("DimensionsAndFilters", func(t *testing.T) { testAggregateDimensions(t, open(t)) })
		t.Run("HandChecked", func(t *testing.T) { testAggregateHandChecked(t, open(t)) })
		t.Run("CostPerRecord", func(t *testing.T) { testAggregateCostPerRecord(t, open(t)) })
		t.Run("QuarterHourBuckets", func(t *testing.T) { testAggregateQuarterHour(t, open(t)) })
		t.Run("LatestProjectOfSession", func(t *testing.T) { testAggregateSessionProject(t, open(t)) })
		t.Run("SessionQuarterHours", func(t *testing.T) { testAggregateSessionQuarterHours(t, open(t)) })
		t.Run("UnknownDimension", func(t *testing.T) { testAggregateUnknownDimension(t, open(t)) })
		t.Run("Empty", func(t *testing.T) { testAggregateEmpty(t, open(t)) })
	})
	t.Run("Records", func(t *testing.T) {
		t.Run("RoundTrip", func(t *testing.T) { testRecordsRoundTrip(t, open(t)) })
		t.Run("OrderAndPaging", func(t *testing.T) { testRecordsPaging(t, open(t)) })
		t.Run("Filters", func(t *testing.T) { testRecordsFilters(t, open(t)) })
		t.Run("Count", func(t *testing.T) { testCountRecords(t, open(t)) })
		t.Run("LatestTimestamp", func(t *testing.T) { testLatestTimestamp(t, open(t)) })
	})
	t.Run("Prompts", func(t *testing.T) {
		t.Run("RoundTripAndFilters", func(t *testing.T) { testPrompts(t, open(t)) })
		t.Run("Invalid", func(t *testing.T) { testPromptsInvalid(t, open(t)) })
	})
	t.Run("Snapshots", func(t *testing.T) {
		t.Run("SaveAndPage", func(t *testing.T) { testSnapshotsPage(t, open(t)) })
		t.Run("Prune", func(t *testing.T) { testSnapshotsPrune(t, open(t)) })
	})
	t.Run("BudgetAlerts", func(t *testing.T) { testBudgetAlerts(t, open(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
}

// t0 is the start of the suite's data: a Monday, 10:00 UTC.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// rec returns a record with the given identity and tokens; Timestamp is
// t0 + d. Callers set the remaining fields.
func rec(key string, d time.Duration, model, session, project string, tok usage.Tokens) usage.Record {
	return usage.Record{
		Key:       key,
		MessageID: key,
		RequestID: "req_" + key,
		Timestamp: at(d),
		Model:     model,
		SessionID: session,
		Project:   project,
		Tokens:    tok,
	}
}

// apply applies b and fails the test on error.
func apply(t *testing.T, s usage.Store, b usage.Batch) {
	t.Helper()
	if err := s.Apply(t.Context(), b); err != nil {
		t.Fatalf("Apply(%d records, %d files) = %v, want nil", len(b.Records), len(b.Files), err)
	}
}

// allRecords returns every stored record in timestamp order.
func allRecords(t *testing.T, s usage.Store) []usage.Record {
	t.Helper()
	got, err := s.Records(t.Context(), usage.Filter{}, usage.Page{})
	if err != nil {
		t.Fatalf("Records() = %v, want nil", err)
	}
	return got
}

// count returns how many records pass f.
func count(t *testing.T, s usage.Store, f usage.Filter) int64 {
	t.Helper()
	n, err := s.CountRecords(t.Context(), f)
	if err != nil {
		t.Fatalf("CountRecords(%+v) = %v, want nil", f, err)
	}
	return n
}

// normRecord makes records comparable with ==: stores may return times in
// any location.
// The cost becomes the table's: a store prices every record it keeps,
// whatever the producer wrote, and CostPerRecord checks the store's own.
func normRecord(r usage.Record) usage.Record {
	r.Timestamp = r.Timestamp.UTC()
	r.Cost = price(r)
	return r
}

// sameRecords reports whether got and want hold the same records in the
// same order.
func sameRecords(got, want []usage.Record) bool {
	return slices.EqualFunc(got, want, func(a, b usage.Record) bool { return normRecord(a) == normRecord(b) })
}

// keys returns the records' keys, for short failure messages.
func keys(rs []usage.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Key
	}
	return out
}

// wantCode fails the test unless err carries the usage error code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := usage.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v has code %q, want %q", what, err, got, code)
	}
}

// normBucket makes buckets comparable with ==.
func normBucket(b usage.Bucket) usage.Bucket {
	b.Time, b.First, b.Last = b.Time.UTC(), b.First.UTC(), b.Last.UTC()
	return b
}

// sortBuckets orders buckets by key, time, model and flag, and normalises
// them, so that two answers can be compared regardless of row order.
func sortBuckets(bs []usage.Bucket) []usage.Bucket {
	out := make([]usage.Bucket, len(bs))
	for i, b := range bs {
		out[i] = normBucket(b)
	}
	slices.SortFunc(out, func(x, y usage.Bucket) int {
		if c := cmp.Compare(x.Key, y.Key); c != 0 {
			return c
		}
		if c := x.Time.Compare(y.Time); c != 0 {
			return c
		}
		return cmp.Compare(x.Model, y.Model)
	})
	return out
}

// aggregate calls Aggregate and returns sorted, normalised buckets.
func aggregate(t *testing.T, s usage.Store, f usage.Filter, dim usage.Dimension) []usage.Bucket {
	t.Helper()
	got, err := s.Aggregate(t.Context(), f, dim)
	if err != nil {
		t.Fatalf("Aggregate(%+v, %d) = %v, want nil", f, dim, err)
	}
	return sortBuckets(got)
}
