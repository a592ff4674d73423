package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// historyResponse is the body of GET /stats/history.
type historyResponse struct {
	StartTime  *time.Time       `json:"start_time,omitempty"`
	EndTime    *time.Time       `json:"end_time,omitempty"`
	Snapshots  []views.Snapshot `json:"snapshots"`
	Pagination pagination       `json:"pagination"`
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
	h, err := s.views(r.Context()).History(r.Context(), s.opts.Store, start, end, usage.Page{Limit: limit, Offset: offset})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, historyResponse{
		StartTime:  s.timeOrNil(start),
		EndTime:    s.timeOrNil(end),
		Snapshots:  h.Snapshots,
		Pagination: newPagination(h.Total, limit, offset, len(h.Snapshots)),
	})
}

// TakeSnapshot stores the current all-time totals, with a row per model,
// and returns the stored snapshot.
func (s *Server) TakeSnapshot(ctx context.Context) (usage.Snapshot, error) {
	all, err := s.views(ctx).AllTime(ctx)
	if err != nil {
		return usage.Snapshot{}, err
	}
	saved, err := s.opts.Store.SaveSnapshot(ctx, all.Snapshot(s.opts.Now()))
	if err != nil {
		return usage.Snapshot{}, fmt.Errorf("save snapshot: %w", err)
	}
	return saved, nil
}

// PruneSnapshots deletes snapshots older than RetentionDays and returns
// how many. Usage records are never pruned.
func (s *Server) PruneSnapshots(ctx context.Context) (int64, error) {
	before := s.opts.Now().AddDate(0, 0, -s.opts.RetentionDays)
	n, err := s.opts.Store.PruneSnapshots(ctx, before)
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
