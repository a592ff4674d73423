package server

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
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

// Records implements usage.Store for the user of ctx.
func (u userStore) Records(ctx context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	return u.Store.Records(ctx, filterUser(ctx, f), p)
}

// CountRecords implements usage.Store for the user of ctx.
func (u userStore) CountRecords(ctx context.Context, f usage.Filter) (int64, error) {
	return u.Store.CountRecords(ctx, filterUser(ctx, f))
}

// userSummary is one user of GET /users.
type userSummary struct {
	// User is "" for records that carry no user (a local install).
	User string `json:"user"`
	usage.Aggregate
	Models        []string   `json:"models"`
	FirstActivity *time.Time `json:"first_activity,omitempty"`
	LastActivity  *time.Time `json:"last_activity,omitempty"`
	// Machines and TokenCount are known only to a team store; they are
	// left out otherwise.
	Machines   []string `json:"machines,omitzero"`
	TokenCount *int     `json:"token_count,omitempty"`
}

// usersResponse is the body of GET /users.
type usersResponse struct {
	Users          []userSummary   `json:"users"`
	Totals         usage.Aggregate `json:"totals"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// handleUsers lists the users with records, and on a team store also those
// that only hold push tokens, sorted by name. Figures come from
// Aggregate(ByUser) and the Pricer, like every other view.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rep, err := s.rollup(ctx, usage.Filter{}, usage.ByUser, byKey)
	if err != nil {
		writeError(w, r, err)
		return
	}
	byName := map[string]*userSummary{}
	for i := range rep.Groups {
		g := &rep.Groups[i]
		byName[g.Key] = &userSummary{
			User:          g.Key,
			Aggregate:     g.Aggregate,
			Models:        g.ModelNames(),
			FirstActivity: s.timeOrNil(g.First),
			LastActivity:  s.timeOrNil(g.Last),
		}
	}
	if ts, ok := s.opts.Store.(usage.TeamStore); ok {
		team, err := ts.Users(ctx)
		if err != nil {
			writeError(w, r, fmt.Errorf("users: %w", err))
			return
		}
		for _, t := range team {
			u := byName[t.User]
			if u == nil {
				u = &userSummary{User: t.User, Models: []string{}}
				byName[t.User] = u
			}
			u.Machines = t.Machines
			if u.Machines == nil {
				u.Machines = []string{}
			}
			u.TokenCount = &t.TokenCount
		}
	}
	resp := usersResponse{
		Users:          make([]userSummary, 0, len(byName)),
		Totals:         rep.Totals.Aggregate,
		UnpricedModels: unpriced(rep),
	}
	for _, u := range byName {
		resp.Users = append(resp.Users, *u)
	}
	slices.SortFunc(resp.Users, func(a, b userSummary) int { return cmp.Compare(a.User, b.User) })
	writeJSON(w, r, resp)
}
