package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// snapshotModelView is one model's share of a snapshot.
type snapshotModelView struct {
	Model string `json:"model"`
	usage.Aggregate
}

// snapshotView is one stored snapshot of the all-time totals.
type snapshotView struct {
	ID         int64     `json:"id"`
	CapturedAt time.Time `json:"captured_at"`
	usage.Aggregate
	Models []snapshotModelView `json:"models"`
}

// historyResponse is the body of GET /stats/history.
type historyResponse struct {
	StartTime  *time.Time     `json:"start_time,omitempty"`
	EndTime    *time.Time     `json:"end_time,omitempty"`
	Snapshots  []snapshotView `json:"snapshots"`
	Pagination pagination     `json:"pagination"`
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

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, err := timeParam(q, "start_time")
	if err != nil {
		writeError(w, r, err)
		return
	}
	end, err := timeParam(q, "end_time")
	if err != nil {
		writeError(w, r, err)
		return
	}
	hasStart := q.Get("start_time") != ""
	if !hasStart {
		// Like the service this replaces: the last 24 hours by default.
		start = s.opts.Now().Add(-24 * time.Hour)
	}
	// Presence is read from the query, not IsZero: 0001-01-01T00:00:00Z
	// is Go's zero time and still a bound the client asked for.
	if q.Get("end_time") != "" && !start.Before(end) {
		if !hasStart {
			writeError(w, r, invalid("end_time: %s is not after the default start_time %s (24 hours ago)",
				end.Format(time.RFC3339), start.Format(time.RFC3339)))
			return
		}
		writeError(w, r, invalid("end_time: %s is not after start_time %s",
			end.Format(time.RFC3339), start.Format(time.RFC3339)))
		return
	}
	limit, offset, err := pageParams(q, 100)
	if err != nil {
		writeError(w, r, err)
		return
	}
	snaps, total, err := s.store().Snapshots(r.Context(), start, end, usage.Page{Limit: limit, Offset: offset})
	if err != nil {
		writeError(w, r, fmt.Errorf("snapshots: %w", err))
		return
	}
	resp := historyResponse{
		StartTime:  s.timeOrNil(start),
		EndTime:    s.timeOrNil(end),
		Snapshots:  make([]snapshotView, 0, len(snaps)),
		Pagination: newPagination(total, limit, offset, len(snaps)),
	}
	for _, sn := range snaps {
		v := snapshotView{
			ID:         sn.ID,
			CapturedAt: sn.Time.In(s.opts.Location),
			Aggregate:  aggregateOf(sn.Totals, sn.CostUSD, sn.Entries),
			Models:     make([]snapshotModelView, 0, len(sn.Models)),
		}
		for _, m := range sn.Models {
			v.Models = append(v.Models, snapshotModelView{Model: m.Model, Aggregate: aggregateOf(m.Tokens, m.CostUSD, m.Entries)})
		}
		resp.Snapshots = append(resp.Snapshots, v)
	}
	writeJSON(w, r, resp)
}

// TakeSnapshot stores the current all-time totals, with a row per model,
// and returns the stored snapshot.
func (s *Server) TakeSnapshot(ctx context.Context) (usage.Snapshot, error) {
	rep, err := s.rollup(ctx, usage.Filter{}, usage.ByNothing, byNothing)
	if err != nil {
		return usage.Snapshot{}, err
	}
	tot := rep.Totals
	snap := usage.Snapshot{
		Time:    s.opts.Now().UTC(),
		Totals:  tot.Tokens,
		CostUSD: tot.CostUSD,
		Entries: tot.Entries,
	}
	for _, m := range tot.Models {
		snap.Models = append(snap.Models, usage.SnapshotModel{
			Model: m.Model, Tokens: m.Tokens, CostUSD: m.CostUSD, Entries: m.Entries,
		})
	}
	saved, err := s.store().SaveSnapshot(ctx, snap)
	if err != nil {
		return usage.Snapshot{}, fmt.Errorf("save snapshot: %w", err)
	}
	return saved, nil
}

// PruneSnapshots deletes snapshots older than RetentionDays and returns
// how many. Usage records are never pruned.
func (s *Server) PruneSnapshots(ctx context.Context) (int64, error) {
	before := s.opts.Now().AddDate(0, 0, -s.opts.RetentionDays)
	n, err := s.store().PruneSnapshots(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("prune snapshots: %w", err)
	}
	return n, nil
}

// RunSnapshots takes a snapshot and prunes old ones now and then every
// SnapshotInterval, until ctx is done. Failures are logged and retried at
// the next tick: a missed snapshot must not stop the server.
func (s *Server) RunSnapshots(ctx context.Context) {
	tick := time.NewTicker(s.opts.SnapshotInterval)
	defer tick.Stop()
	for {
		s.snapshotOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Server) snapshotOnce(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if _, err := s.TakeSnapshot(ctx); err != nil {
		s.opts.Logger.Error("take snapshot", slog.Any("error", err))
	}
	if n, err := s.PruneSnapshots(ctx); err != nil {
		s.opts.Logger.Error("prune snapshots", slog.Any("error", err))
	} else if n > 0 {
		s.opts.Logger.Info("pruned snapshots", slog.Int64("count", n))
	}
}
