package team

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// PromptSource is a Source that also holds prompts; Push sends them when
// its source is one, so that the team server's prompts view knows what
// each response answered.
type PromptSource interface {
	Prompts(ctx context.Context, f usage.Filter) ([]usage.Prompt, error)
}

// ValidatePrompt checks every field of a prompt that a machine pushed,
// against now. The message (EINVALID) names the field. User and Machine
// are decided by the caller.
func ValidatePrompt(p *usage.Prompt, now time.Time) error {
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"key", p.Key, maxIDLength}, {"session_id", p.SessionID, maxIDLength},
		{"project", p.Project, maxPathLength},
	} {
		if err := validText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	switch {
	case p.Key == "":
		return usage.Errorf(usage.EINVALID, "key is empty")
	case p.SessionID == "" || !strings.HasPrefix(p.Key, p.SessionID+":"):
		return usage.Errorf(usage.EINVALID, "key %q is not <session_id>:<line id>", p.Key)
	case len(p.Text) > usage.MaxPromptText:
		return usage.Errorf(usage.EINVALID, "text is longer than %d bytes", usage.MaxPromptText)
	case !utf8.ValidString(p.Text):
		return usage.Errorf(usage.EINVALID, "text is not valid UTF-8")
	case p.Timestamp.Before(earliest):
		return usage.Errorf(usage.EINVALID, "timestamp %s is before %s", p.Timestamp.Format(time.RFC3339), earliest.Format(time.DateOnly))
	case p.Timestamp.After(now.Add(futureSlack)):
		return usage.Errorf(usage.EINVALID, "timestamp %s is in the future", p.Timestamp.Format(time.RFC3339))
	}
	return nil
}

// fillPrompts validates the prompts of an ingest request and sets their
// user and machine.
func (h *IngestHandler) fillPrompts(ps []usage.Prompt, user, machine string, now time.Time) error {
	if len(ps) > MaxBatchRecords {
		return usage.Errorf(usage.EINVALID, "prompts: %d prompts in one batch, at most %d", len(ps), MaxBatchRecords)
	}
	for i := range ps {
		p := &ps[i]
		err := ValidatePrompt(p, now)
		if err == nil && p.User != "" && p.User != user {
			err = usage.Errorf(usage.EINVALID, "user %q differs from the batch's user %q", p.User, user)
		}
		if err == nil {
			p.User = user
			if p.Machine == "" {
				p.Machine = machine
			}
			err = usage.ValidName("machine", p.Machine)
		}
		if err != nil {
			return usage.Errorf(usage.EINVALID, "prompts[%d]: %s", i, usage.ErrorMessage(err))
		}
	}
	return nil
}

// pushPrompts sends the local prompts typed in [since, until) in batches.
// A server from before prompts were pushed refuses the field: the
// records are on it all the same, so that is logged and not an error.
func (c *pushClient) pushPrompts(ctx context.Context, src Source, since, until time.Time, res *PushResult) error {
	ps, ok := src.(PromptSource)
	if !ok {
		return nil
	}
	prompts, err := ps.Prompts(ctx, usage.Filter{Since: since, Until: until})
	if err != nil {
		return fmt.Errorf("push: read prompts: %w", err)
	}
	now := time.Now()
	out := prompts[:0]
	for i := range prompts {
		p := prompts[i]
		if err := ValidatePrompt(&p, now); err != nil {
			c.opts.Logger.WarnContext(ctx, "prompt not pushed", slog.String("key", p.Key), slog.String("reason", usage.ErrorMessage(err)))
			continue
		}
		p.User = "" // the server decides
		out = append(out, p)
	}
	for len(out) > 0 {
		n := min(len(out), c.opts.BatchSize)
		err := c.sendRequest(ctx, IngestRequest{Machine: c.opts.Machine, Records: []usage.Record{}, Prompts: out[:n]})
		if err != nil {
			if usage.ErrorCode(err) == usage.EINVALID && strings.Contains(usage.ErrorMessage(err), `"prompts"`) {
				c.opts.Logger.WarnContext(ctx, "the server does not take prompts (an older ctm); only records were pushed", slog.Any("error", err))
				return nil
			}
			return err
		}
		res.Prompts += n
		out = out[n:]
	}
	return nil
}
