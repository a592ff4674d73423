package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

var _ usage.RateLimitStore = (*Store)(nil)

// SaveRateLimits stores a rate-limit sample. A sample whose windows equal
// those of the latest stored one is not stored again: Claude Code refreshes
// its status line many times a minute, and repeated identical rows would
// only grow the table. A zero Time is taken as s.Now(). Returns EINVALID
// when the sample has no window.
func (s *Store) SaveRateLimits(ctx context.Context, rl usage.RateLimitSample) error {
	if rl.IsZero() {
		return usage.Errorf(usage.EINVALID, "rate-limit sample has neither a five_hour nor a seven_day window")
	}
	if rl.Time.IsZero() {
		rl.Time = s.Now()
	}
	fiveUsed, fiveReset := windowArgs(rl.FiveHour)
	sevenUsed, sevenReset := windowArgs(rl.SevenDay)
	return s.write(ctx, func(tx *sql.Tx) error {
		// IS compares NULLs as equal, so a window missing from both rows
		// counts as unchanged.
		var same int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (
				SELECT five_hour_used, five_hour_resets_at, seven_day_used, seven_day_resets_at
				FROM rate_limits ORDER BY ts DESC, id DESC LIMIT 1)
			WHERE five_hour_used IS ? AND five_hour_resets_at IS ?
				AND seven_day_used IS ? AND seven_day_resets_at IS ?`,
			fiveUsed, fiveReset, sevenUsed, sevenReset).Scan(&same)
		if err != nil {
			return fmt.Errorf("save rate limits: %w", formatError(err))
		}
		if same > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rate_limits (ts, session_id, five_hour_used,
			five_hour_resets_at, seven_day_used, seven_day_resets_at) VALUES (?, ?, ?, ?, ?, ?)`,
			ms(rl.Time), rl.SessionID, fiveUsed, fiveReset, sevenUsed, sevenReset); err != nil {
			return fmt.Errorf("save rate limits: %w", formatError(err))
		}
		return nil
	})
}

// LatestRateLimits returns the most recent rate-limit sample, or ENOTFOUND
// when none is stored.
func (s *Store) LatestRateLimits(ctx context.Context) (usage.RateLimitSample, error) {
	var (
		rl                    usage.RateLimitSample
		ts                    int64
		fiveUsed, sevenUsed   sql.NullFloat64
		fiveReset, sevenReset sql.NullInt64
	)
	err := s.reader.QueryRowContext(ctx, `SELECT ts, session_id, five_hour_used, five_hour_resets_at,
		seven_day_used, seven_day_resets_at FROM rate_limits ORDER BY ts DESC, id DESC LIMIT 1`).
		Scan(&ts, &rl.SessionID, &fiveUsed, &fiveReset, &sevenUsed, &sevenReset)
	if errors.Is(err, sql.ErrNoRows) {
		return rl, usage.Errorf(usage.ENOTFOUND, "no rate limits received from Claude Code yet")
	}
	if err != nil {
		return rl, fmt.Errorf("latest rate limits: %w", formatError(err))
	}
	rl.Time = fromMS(ts)
	rl.FiveHour = scanWindow(fiveUsed, fiveReset)
	rl.SevenDay = scanWindow(sevenUsed, sevenReset)
	return rl, nil
}

// windowArgs returns the column values of w: NULLs for a missing window
// and a NULL reset time when it is unknown.
func windowArgs(w *usage.RateLimitWindow) (used, resetsAt any) {
	if w == nil {
		return nil, nil
	}
	if w.ResetsAt.IsZero() {
		return w.UsedPercentage, nil
	}
	return w.UsedPercentage, ms(w.ResetsAt)
}

func scanWindow(used sql.NullFloat64, resetsAt sql.NullInt64) *usage.RateLimitWindow {
	if !used.Valid {
		return nil
	}
	w := &usage.RateLimitWindow{UsedPercentage: used.Float64}
	if resetsAt.Valid {
		w.ResetsAt = fromMS(resetsAt.Int64)
	}
	return w
}

var _ usage.RateLimitHistory = (*Store)(nil)

// RateLimitSamples returns the samples received in [since, until), oldest
// first; with a positive limit, only the newest limit of them.
func (s *Store) RateLimitSamples(ctx context.Context, since, until time.Time, limit int) ([]usage.RateLimitSample, error) {
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !since.IsZero() {
		from = ms(since)
	}
	if !until.IsZero() {
		to = ms(until)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT ts, session_id, five_hour_used, five_hour_resets_at,
		seven_day_used, seven_day_resets_at FROM (
			SELECT * FROM rate_limits WHERE ts >= ? AND ts < ? ORDER BY ts DESC, id DESC LIMIT ?)
		ORDER BY ts, id`, from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("rate limit samples: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.RateLimitSample
	for rows.Next() {
		var (
			rl                    usage.RateLimitSample
			ts                    int64
			fiveUsed, sevenUsed   sql.NullFloat64
			fiveReset, sevenReset sql.NullInt64
		)
		if err := rows.Scan(&ts, &rl.SessionID, &fiveUsed, &fiveReset, &sevenUsed, &sevenReset); err != nil {
			return nil, fmt.Errorf("rate limit samples: %w", formatError(err))
		}
		rl.Time = fromMS(ts)
		rl.FiveHour = scanWindow(fiveUsed, fiveReset)
		rl.SevenDay = scanWindow(sevenUsed, sevenReset)
		out = append(out, rl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rate limit samples: %w", formatError(err))
	}
	return out, nil
}
