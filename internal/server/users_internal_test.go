package server

import (
	"context"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// filterSpy records the filters it is asked for.
type filterSpy struct {
	usage.Store
	got     []usage.Filter
	aggDims []usage.Dimension
}

func (s *filterSpy) Aggregate(_ context.Context, f usage.Filter, dim usage.Dimension) ([]usage.Bucket, error) {
	s.got = append(s.got, f)
	s.aggDims = append(s.aggDims, dim)
	return nil, nil
}

func (s *filterSpy) Records(_ context.Context, f usage.Filter, _ usage.Page) ([]usage.Record, error) {
	s.got = append(s.got, f)
	return nil, nil
}

func (s *filterSpy) CountRecords(_ context.Context, f usage.Filter) (int64, error) {
	s.got = append(s.got, f)
	return 0, nil
}

// periodSpy is a filterSpy that sums by period, as sqlite.Store does.
type periodSpy struct {
	filterSpy
	dims []usage.Dimension
}

func (s *periodSpy) AggregatePeriods(_ context.Context, f usage.Filter, dim usage.Dimension, label func(time.Time) string) ([]usage.Bucket, error) {
	s.got = append(s.got, f)
	s.dims = append(s.dims, dim)
	return []usage.Bucket{{Key: label(time.Unix(0, 0).UTC())}}, nil
}

func TestUserStorePassesPeriodSums(t *testing.T) {
	// The views find the store's period sums through the handlers'
	// store, narrowed to the request's user like every other read.
	spy := &periodSpy{}
	var pa views.PeriodAggregator = userStore{spy}
	ctx := withUser(context.Background(), "alice")
	label := func(t time.Time) string { return t.Format(time.DateOnly) }
	got, err := pa.AggregatePeriods(ctx, usage.Filter{Project: "p"}, usage.BySessionQuarterHour, label)
	if err != nil || len(got) != 1 || got[0].Key != "1970-01-01" {
		t.Fatalf("AggregatePeriods = %+v, %v; want the store's own buckets", got, err)
	}
	if len(spy.got) != 1 || spy.got[0].User != "alice" || spy.got[0].Project != "p" || spy.dims[0] != usage.BySessionQuarterHour {
		t.Errorf("the store was asked for %+v by %v, want project p of alice by session and quarter hour", spy.got, spy.dims)
	}
	// A store without period sums answers with its quarter hours, of
	// the dimension asked for.
	plain := &filterSpy{}
	if _, err := (userStore{plain}).AggregatePeriods(ctx, usage.Filter{}, usage.BySessionQuarterHour, label); err != nil ||
		len(plain.got) != 1 || plain.got[0].User != "alice" || plain.aggDims[0] != usage.BySessionQuarterHour {
		t.Errorf("without period sums: %v, reads %+v by %v; want one Aggregate for alice by session and quarter hour", err, plain.got, plain.aggDims)
	}
}

func TestUserStoreNarrowsEveryRead(t *testing.T) {
	spy := &filterSpy{}
	u := userStore{spy}
	ctx := withUser(context.Background(), "alice")
	_, _ = u.Aggregate(ctx, usage.Filter{Project: "p"}, usage.ByNothing)
	_, _ = u.Records(ctx, usage.Filter{}, usage.Page{})
	_, _ = u.CountRecords(ctx, usage.Filter{})
	// A filter that names its own user keeps it.
	_, _ = u.CountRecords(ctx, usage.Filter{User: "bob"})
	// Without a user in the context, reads are not narrowed.
	_, _ = u.CountRecords(context.Background(), usage.Filter{})
	want := []string{"alice", "alice", "alice", "bob", ""}
	if len(spy.got) != len(want) {
		t.Fatalf("reads = %d, want %d", len(spy.got), len(want))
	}
	for i, f := range spy.got {
		if f.User != want[i] {
			t.Errorf("read %d: user = %q, want %q", i, f.User, want[i])
		}
	}
	if spy.got[0].Project != "p" {
		t.Errorf("project = %q, want the handler's p kept", spy.got[0].Project)
	}
}
