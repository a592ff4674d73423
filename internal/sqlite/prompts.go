package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// promptFields is the number of columns of a prompts row.
const promptFields = 7

// applyPrompts stores prompts not stored yet. A prompt is a line of a
// transcript, so a copy read again is the same prompt: it is kept as is.
func applyPrompts(ctx context.Context, tx *sql.Tx, prompts []usage.Prompt) error {
	args := make([]any, 0, rowsPerInsert*promptFields)
	for lo := 0; lo < len(prompts); lo += rowsPerInsert {
		hi := min(lo+rowsPerInsert, len(prompts))
		args = args[:0]
		for i := lo; i < hi; i++ {
			p := &prompts[i]
			if err := validPrompt(p); err != nil {
				return err
			}
			args = append(args, p.Key, p.SessionID, p.Project, ms(p.Timestamp), p.Text, p.User, p.Machine)
		}
		q := `INSERT INTO prompts (key, session_id, project, ts, text, user, machine) VALUES ` +
			placeholders(hi-lo, promptFields) + ` ON CONFLICT (key) DO NOTHING`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("apply: prompts: %w", formatError(err))
		}
	}
	return nil
}

func validPrompt(p *usage.Prompt) error {
	if p.Key == "" {
		return usage.Errorf(usage.EINVALID, "prompt without a key")
	}
	if p.Timestamp.Before(minTime) || !p.Timestamp.Before(maxTime) {
		return usage.Errorf(usage.EINVALID, "prompt %q: timestamp %s is out of range", p.Key, p.Timestamp)
	}
	return nil
}

// Prompts returns the prompts that pass f, by session and time.
func (s *Store) Prompts(ctx context.Context, f usage.Filter) ([]usage.Prompt, error) {
	// Prompts have no model; the other fields are the records' columns.
	f.Model = ""
	cond, args := where(f)
	q := `SELECT key, session_id, project, ts, text, user, machine FROM prompts` + cond
	rows, err := s.reader.QueryContext(ctx, q+` ORDER BY session_id, ts, key`, args...)
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.Prompt
	for rows.Next() {
		var (
			p  usage.Prompt
			ts int64
		)
		if err := rows.Scan(&p.Key, &p.SessionID, &p.Project, &ts, &p.Text, &p.User, &p.Machine); err != nil {
			return nil, fmt.Errorf("prompts: %w", formatError(err))
		}
		p.Timestamp = fromMS(ts)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("prompts: %w", formatError(err))
	}
	return out, nil
}
