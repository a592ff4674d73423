package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
)

var _ usage.BudgetAlertStore = (*Store)(nil)

// MarkBudgetAlertSent records a delivered budget notification; false when
// its key was recorded before (by this server or another one sharing the
// database). A zero SentAt is taken as s.Now().
func (s *Store) MarkBudgetAlertSent(ctx context.Context, a usage.BudgetAlert) (bool, error) {
	if err := usage.ValidBudgetAlert(a); err != nil {
		return false, err
	}
	if a.SentAt.IsZero() {
		a.SentAt = s.Now()
	}
	var added bool
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO budget_alerts (budget_id, period_start, threshold, target, sent_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			a.BudgetID, ms(a.PeriodStart), a.Threshold, a.Target, ms(a.SentAt))
		if err != nil {
			return fmt.Errorf("mark budget alert sent: %w", formatError(err))
		}
		added = tag.RowsAffected() > 0
		return nil
	})
	return added, err
}

// BudgetAlertsSent returns the delivered notifications of the periods that
// start at or after since.
func (s *Store) BudgetAlertsSent(ctx context.Context, since time.Time) ([]usage.BudgetAlert, error) {
	q := `SELECT budget_id, period_start, threshold, target, sent_at FROM budget_alerts`
	var args []any
	if !since.IsZero() {
		q += ` WHERE period_start >= $1`
		args = append(args, ceilMS(since))
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY period_start, budget_id, threshold, target`, args...)
	if err != nil {
		return nil, fmt.Errorf("budget alerts: %w", formatError(err))
	}
	defer rows.Close()
	out := []usage.BudgetAlert{}
	for rows.Next() {
		var a usage.BudgetAlert
		if err := rows.Scan(&a.BudgetID, &a.PeriodStart, &a.Threshold, &a.Target, &a.SentAt); err != nil {
			return nil, fmt.Errorf("budget alerts: %w", formatError(err))
		}
		a.PeriodStart, a.SentAt = a.PeriodStart.UTC(), a.SentAt.UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("budget alerts: %w", formatError(err))
	}
	return out, nil
}
