package server

import (
	"context"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// filterSpy records the filters it is asked for.
type filterSpy struct {
	usage.Store
	got []usage.Filter
}

func (s *filterSpy) Aggregate(_ context.Context, f usage.Filter, _ usage.Dimension) ([]usage.Bucket, error) {
	s.got = append(s.got, f)
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
