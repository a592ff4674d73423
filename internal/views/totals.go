package views

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// AllTime is the sum of every record with its per-model breakdown: what a
// snapshot stores and what the Prometheus metrics export.
type AllTime struct {
	usage.Aggregate
	// Models is the per-model breakdown, ordered by cost, highest first.
	Models   []usage.ModelAggregate
	Unpriced []string
}

// AllTime returns the sum of every record the store holds.
func (v *Views) AllTime(ctx context.Context) (AllTime, error) {
	rep, err := v.rollup(ctx, usage.Filter{}, usage.ByNothing, byNothing)
	if err != nil {
		return AllTime{}, err
	}
	return AllTime{Aggregate: rep.Totals.Aggregate, Models: rep.Totals.Models, Unpriced: nonNil(rep.Unpriced)}, nil
}

// Snapshot returns a as a snapshot taken at at, with a row per model.
func (a AllTime) Snapshot(at time.Time) usage.Snapshot {
	snap := usage.Snapshot{Time: at.UTC(), Totals: a.Tokens, CostUSD: a.CostUSD, Entries: a.Entries}
	for _, m := range a.Models {
		snap.Models = append(snap.Models, usage.SnapshotModel{
			Model: m.Model, Tokens: m.Tokens, CostUSD: m.CostUSD, Entries: m.Entries,
		})
	}
	return snap
}

// SnapshotReader reads stored snapshots; usage.Store implements it.
type SnapshotReader interface {
	Snapshots(ctx context.Context, since, until time.Time, p usage.Page) ([]usage.Snapshot, int64, error)
}

// SnapshotModel is one model's share of a stored snapshot.
type SnapshotModel struct {
	Model string `json:"model"`
	usage.Aggregate
}

// Snapshot is one stored snapshot of the all-time totals, with the
// figures derived from its sums.
type Snapshot struct {
	ID         int64     `json:"id"`
	CapturedAt time.Time `json:"captured_at"`
	usage.Aggregate
	Models []SnapshotModel `json:"models"`
}

// History is a page of stored snapshots, newest first, and how many there
// are in the range.
type History struct {
	Snapshots []Snapshot
	Total     int64
}

// History returns the page p of the snapshots r holds that were taken in
// [since, until) (zero bounds are open), in the views' zone.
func (v *Views) History(ctx context.Context, r SnapshotReader, since, until time.Time, p usage.Page) (History, error) {
	snaps, total, err := r.Snapshots(ctx, since, until, p)
	if err != nil {
		return History{}, fmt.Errorf("snapshots: %w", err)
	}
	h := History{Snapshots: make([]Snapshot, 0, len(snaps)), Total: total}
	for _, sn := range snaps {
		s := Snapshot{
			ID:         sn.ID,
			CapturedAt: sn.Time.In(v.loc()),
			Aggregate:  aggregateOf(sn.Totals, sn.CostUSD, sn.Entries),
			Models:     make([]SnapshotModel, 0, len(sn.Models)),
		}
		for _, m := range sn.Models {
			s.Models = append(s.Models, SnapshotModel{Model: m.Model, Aggregate: aggregateOf(m.Tokens, m.CostUSD, m.Entries)})
		}
		h.Snapshots = append(h.Snapshots, s)
	}
	return h, nil
}

// aggregateOf rebuilds the derived figures of a stored sum.
func aggregateOf(t usage.Tokens, cost usage.Money, entries int64) usage.Aggregate {
	return usage.Aggregate{
		Tokens:              t,
		CacheCreationTokens: t.CacheCreation(),
		TotalTokens:         t.Total(),
		CacheHitRate:        t.CacheHitRate(),
		CostUSD:             cost,
		Entries:             entries,
	}
}

// TeamDirectory lists a team store's users; usage.TeamStore implements it.
type TeamDirectory interface {
	Users(ctx context.Context) ([]usage.UserTotals, error)
}

// UserSummary is one user with their totals.
type UserSummary struct {
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

// Users is every user with records, and on a team store also those that
// only hold push tokens, sorted by name, with the totals.
type Users struct {
	Users          []UserSummary   `json:"users"`
	Totals         usage.Aggregate `json:"totals"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// Users returns the users of the records, adding what team, when not nil,
// knows of machines and push tokens. Figures come from Aggregate(ByUser)
// and the price table, like every other view.
func (v *Views) Users(ctx context.Context, team TeamDirectory) (Users, error) {
	rep, err := v.rollup(ctx, usage.Filter{}, usage.ByUser, byKey)
	if err != nil {
		return Users{}, err
	}
	byName := map[string]*UserSummary{}
	for i := range rep.Groups {
		g := &rep.Groups[i]
		byName[g.Key] = &UserSummary{
			User:          g.Key,
			Aggregate:     g.Aggregate,
			Models:        g.ModelNames(),
			FirstActivity: v.timeOrNil(g.First),
			LastActivity:  v.timeOrNil(g.Last),
		}
	}
	if team != nil {
		members, err := team.Users(ctx)
		if err != nil {
			return Users{}, fmt.Errorf("users: %w", err)
		}
		for _, t := range members {
			u := byName[t.User]
			if u == nil {
				u = &UserSummary{User: t.User, Models: []string{}}
				byName[t.User] = u
			}
			u.Machines = nonNil(t.Machines)
			u.TokenCount = &t.TokenCount
		}
	}
	res := Users{
		Users:          make([]UserSummary, 0, len(byName)),
		Totals:         rep.Totals.Aggregate,
		UnpricedModels: nonNil(rep.Unpriced),
	}
	for _, u := range byName {
		res.Users = append(res.Users, *u)
	}
	slices.SortFunc(res.Users, func(a, b UserSummary) int { return cmp.Compare(a.User, b.User) })
	return res, nil
}
