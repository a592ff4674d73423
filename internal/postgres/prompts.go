package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
)

// insertPrompts stores a batch of prompts in one statement; a prompt
// already stored is kept (it is the same transcript line read again).
const insertPrompts = `INSERT INTO prompts (key, session_id, project, ts, text, user_name, machine)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[])
ON CONFLICT (key) DO NOTHING`

func applyPrompts(ctx context.Context, tx pgx.Tx, prompts []usage.Prompt) error {
	if len(prompts) == 0 {
		return nil
	}
	n := len(prompts)
	key, session, project, text, user, machine := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ts := make([]time.Time, n)
	for i := range prompts {
		p := &prompts[i]
		key[i], session[i], project[i], ts[i] = p.Key, p.SessionID, p.Project, ms(p.Timestamp)
		text[i], user[i], machine[i] = p.Text, p.User, p.Machine
	}
	if _, err := tx.Exec(ctx, insertPrompts, key, session, project, ts, text, user, machine); err != nil {
		return fmt.Errorf("apply: %d prompts: %w", n, formatError(err))
	}
	return nil
}

// validPrompt checks what PostgreSQL would otherwise reject with a less
// helpful message.
func validPrompt(p *usage.Prompt) error {
	if p.Key == "" {
		return usage.Errorf(usage.EINVALID, "prompt at %s has no key", p.Timestamp.Format(time.RFC3339))
	}
	if p.Timestamp.Before(minTime) || !p.Timestamp.Before(maxTime) {
		return usage.Errorf(usage.EINVALID, "prompt %q: timestamp %s is out of range", p.Key, p.Timestamp)
	}
	for _, f := range []struct{ name, v string }{
		{"key", p.Key}, {"session_id", p.SessionID}, {"project", p.Project},
		{"text", p.Text}, {"user", p.User}, {"machine", p.Machine},
	} {
		if err := validText(f.name, f.v); err != nil {
			return usage.Errorf(usage.EINVALID, "prompt %q: %s", p.Key, usage.ErrorMessage(err))
		}
	}
	return nil
}

// Prompts returns the prompts that pass f, by session and time.
func (s *Store) Prompts(ctx context.Context, f usage.Filter) ([]usage.Prompt, error) {
	// Prompts have no model; the other fields are the records' columns.
	f.Model = ""
	var a args
	q := `SELECT key, session_id, project, ts, text, user_name, machine FROM prompts` + where(f, &a)
	rows, err := s.pool.Query(ctx, q+` ORDER BY session_id, ts, key`, a...)
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.Prompt
	for rows.Next() {
		var p usage.Prompt
		if err := rows.Scan(&p.Key, &p.SessionID, &p.Project, &p.Timestamp, &p.Text, &p.User, &p.Machine); err != nil {
			return nil, fmt.Errorf("prompts: %w", formatError(err))
		}
		p.Timestamp = p.Timestamp.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("prompts: %w", formatError(err))
	}
	return out, nil
}
