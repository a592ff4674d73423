package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// promptFields is the number of columns of a prompts row.
const promptFields = 8

// applyPrompts stores prompts not stored yet. A prompt is a line of a
// transcript, so a copy read again is the same prompt: the first copy
// stored is kept as it is.
func applyPrompts(ctx context.Context, tx *sql.Tx, prompts []usage.Prompt) error {
	if len(prompts) == 0 {
		return nil
	}
	keys := make([]string, 0, len(prompts))
	first := make(map[string]bool, len(prompts))
	fresh := make([]*usage.Prompt, 0, len(prompts))
	for i := range prompts {
		p := &prompts[i]
		if err := validPrompt(p); err != nil {
			return err
		}
		if !first[p.Key] {
			first[p.Key] = true
			keys = append(keys, p.Key)
			fresh = append(fresh, p)
		}
	}
	stored, err := storedRows(ctx, tx, "prompts", keys)
	if err != nil {
		return fmt.Errorf("apply: stored prompts: %w", err)
	}
	fresh = slices.DeleteFunc(fresh, func(p *usage.Prompt) bool { _, ok := stored[p.Key]; return ok })
	args := make([]any, 0, rowsPerInsert*promptFields)
	for lo := 0; lo < len(fresh); lo += rowsPerInsert {
		hi := min(lo+rowsPerInsert, len(fresh))
		args = args[:0]
		for _, p := range fresh[lo:hi] {
			args = append(args, p.Key, p.SessionID, p.Project, ms(p.Timestamp), p.Text, p.User, p.Machine, keyHash(p.Key))
		}
		if _, err := tx.ExecContext(ctx, insertPrompts(hi-lo), args...); err != nil {
			return fmt.Errorf("apply: prompts: %w", formatError(err))
		}
	}
	return nil
}

// insertPrompts returns an INSERT of n prompts whose keys are not stored,
// each bound as applyPrompts binds it.
func insertPrompts(n int) string {
	return `INSERT INTO prompts (key, session_id, project, ts, text, user, machine, key_hash) VALUES ` +
		placeholders(n, promptFields)
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
