package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

var _ usage.BudgetAlertStore = (*Store)(nil)

// MarkBudgetAlertSent records a delivered budget notification; false when
// its key was recorded before. A zero SentAt is taken as s.Now().
func (s *Store) MarkBudgetAlertSent(ctx context.Context, a usage.BudgetAlert) (bool, error) {
	if err := usage.ValidBudgetAlert(a); err != nil {
		return false, err
	}
	if a.SentAt.IsZero() {
		a.SentAt = s.Now()
	}
	var added bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO budget_alerts (budget_id, period_start, threshold, target, sent_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			a.BudgetID, ms(a.PeriodStart), a.Threshold, a.Target, ms(a.SentAt))
		if err != nil {
			return fmt.Errorf("mark budget alert sent: %w", formatError(err))
		}
		n, err := res.RowsAffected()
		added = n > 0
		return err
	})
	return added, err
}

// BudgetAlertsSent returns the delivered notifications of the periods that
// start at or after since.
func (s *Store) BudgetAlertsSent(ctx context.Context, since time.Time) ([]usage.BudgetAlert, error) {
	var from int64 = -1 << 62
	if !since.IsZero() {
		from = ms(since)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT budget_id, period_start, threshold, target, sent_at
		FROM budget_alerts WHERE period_start >= ? ORDER BY period_start, budget_id, threshold, target`, from)
	if err != nil {
		return nil, fmt.Errorf("budget alerts: %w", formatError(err))
	}
	defer rows.Close()
	out := []usage.BudgetAlert{}
	for rows.Next() {
		var a usage.BudgetAlert
		var start, sent int64
		if err := rows.Scan(&a.BudgetID, &start, &a.Threshold, &a.Target, &sent); err != nil {
			return nil, fmt.Errorf("budget alerts: %w", formatError(err))
		}
		a.PeriodStart, a.SentAt = fromMS(start), fromMS(sent)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("budget alerts: %w", formatError(err))
	}
	return out, nil
}
