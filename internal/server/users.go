package server

import (
	"context"
	"net/http"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// userStore is the Store the handlers read through: it narrows every
// filtered read to the user of the request context (the user parameter),
// so that each view, its session counts included, cuts one user's records
// without each handler having to remember to. Reads outside a request,
// and requests without the parameter, see everything.
type userStore struct{ usage.Store }

// store returns the Store of the handlers: Options.Store seen through
// userStore. Options.Store keeps the store itself, for its optional
// interfaces.
func (s *Server) store() usage.Store { return userStore{s.opts.Store} }

// Aggregate implements usage.Store for the user of ctx.
func (u userStore) Aggregate(ctx context.Context, f usage.Filter, dim usage.Dimension) ([]usage.Bucket, error) {
	return u.Store.Aggregate(ctx, filterUser(ctx, f), dim)
}

// AggregatePeriods implements views.PeriodAggregator for the user of ctx:
// with the store's own when it has one (sqlite.Store), else with
// Aggregate, whose buckets the interface allows. Without it the views
// never saw the store's period sums through the handlers: the daily view
// of a month of 2 GB of long sessions built 80k buckets per request
// instead of 3k.
func (u userStore) AggregatePeriods(ctx context.Context, f usage.Filter, dim usage.Dimension, label func(time.Time) string) ([]usage.Bucket, error) {
	f = filterUser(ctx, f)
	if pa, ok := u.Store.(views.PeriodAggregator); ok {
		return pa.AggregatePeriods(ctx, f, dim, label)
	}
	return u.Store.Aggregate(ctx, f, dim)
}

// Records implements usage.Store for the user of ctx.
func (u userStore) Records(ctx context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	return u.Store.Records(ctx, filterUser(ctx, f), p)
}

// CountRecords implements usage.Store for the user of ctx.
func (u userStore) CountRecords(ctx context.Context, f usage.Filter) (int64, error) {
	return u.Store.CountRecords(ctx, filterUser(ctx, f))
}

// handleUsers lists the users (views.Users), with what a team store knows
// of their machines and push tokens.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request) {
	var team views.TeamDirectory
	if ts, ok := s.opts.Store.(usage.TeamStore); ok {
		team = ts
	}
	res, err := s.views(r.Context()).Users(r.Context(), team)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, res)
}
