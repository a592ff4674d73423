package server

import (
	"context"
	"log/slog"
	"time"
)

// Hub returns the WebSocket feed's hub, or nil without Options.WebSocket.
func (s *Server) Hub() *Hub { return s.hub }

// Changed tells the server that the store holds new records: cached
// responses are dropped and the feed's clients get a stats_update. The
// team routes call it after each push; the live pipeline calls Ingested,
// which does this and more.
func (s *Server) Changed() {
	s.Invalidate()
	if s.hub != nil {
		s.hub.NotifyIngest()
	}
}

// Ingested is the step after an ingest that stored records: Changed, then
// the block_update and alerts of NotifyBlocks. Errors are logged: the
// next ingest or tick tries again.
func (s *Server) Ingested(ctx context.Context) {
	s.Changed()
	s.notifyBlocks(ctx)
}

func (s *Server) notifyBlocks(ctx context.Context) {
	if s.hub == nil {
		return
	}
	if err := s.NotifyBlocks(ctx); err != nil && ctx.Err() == nil {
		s.opts.Logger.Error("notify blocks", slog.Any("error", err))
	}
}

// blockTick is how often Run looks at the active block with no new
// record: a block also ends, and its alerts change, because time passes.
const blockTick = time.Minute

// Run does the server's periodic work until ctx is done: snapshots and
// their pruning every SnapshotInterval (see RunSnapshots) and, with a
// WebSocket feed, a block_update check every minute.
func (s *Server) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunSnapshots(ctx)
	}()
	defer func() { <-done }()
	if s.hub == nil {
		return
	}
	t := time.NewTicker(blockTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.notifyBlocks(ctx)
		}
	}
}
