package budget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// Alert is one budget crossing one threshold in one period: the body of a
// generic webhook and the data of the WebSocket budget_alert message.
type Alert struct {
	BudgetID    string             `json:"budget_id"`
	Period      usage.BudgetPeriod `json:"period"`
	Project     string             `json:"project,omitempty"`
	User        string             `json:"user,omitempty"`
	Amount      usage.Money        `json:"amount_usd"`
	Threshold   int                `json:"threshold"`
	PeriodStart time.Time          `json:"period_start"`
	PeriodEnd   time.Time          `json:"period_end"`
	Spent       usage.Money        `json:"spent_usd"`
	Percent     float64            `json:"percent"`
	// Status is near (80 % or more) or over (100 % or more), else ok.
	Status string `json:"status"`
	// Message is the one-line text chat targets show.
	Message string `json:"message"`
}

func newAlert(st views.BudgetStatus, threshold int) Alert {
	scope := "all usage"
	switch {
	case st.Project != "" && st.User != "":
		scope = "project " + st.Project + ", user " + st.User
	case st.Project != "":
		scope = "project " + st.Project
	case st.User != "":
		scope = "user " + st.User
	}
	return Alert{
		BudgetID: st.ID, Period: st.Period, Project: st.Project, User: st.User, Amount: st.Amount,
		Threshold: threshold, PeriodStart: st.PeriodStart, PeriodEnd: st.PeriodEnd,
		Spent: st.Spent, Percent: st.Percent, Status: st.Status,
		Message: fmt.Sprintf("ctm budget %s (%s, %s): %.0f%% used, $%s of $%s (crossed %d%%)",
			st.ID, st.Period, scope, st.Percent, st.Spent.Fixed(2), st.Amount.Fixed(2), threshold),
	}
}

// Delivery settings. Zero fields of Retry take these defaults.
const (
	DefaultAttempts       = 5
	DefaultBackoff        = time.Second
	DefaultMaxBackoff     = 30 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// Retry bounds the delivery of one notification.
type Retry struct {
	// Attempts is how many requests are made at most.
	Attempts int
	// Backoff is the wait after the first failure; it doubles after each
	// further one, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds each request.
	Timeout time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = DefaultAttempts
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultBackoff
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = DefaultMaxBackoff
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultRequestTimeout
	}
	return r
}

// errPermanent marks a failure that retrying will not fix (a 4xx other
// than 408 and 429).
var errPermanent = errors.New("permanent failure")

// request builds t's request for a.
func (t Target) request(ctx context.Context, a Alert) (*http.Request, error) {
	var body []byte
	var err error
	ctype := "application/json"
	switch t.Kind {
	case KindSlack:
		body, err = json.Marshal(map[string]string{"text": a.Message})
	case KindDiscord:
		body, err = json.Marshal(map[string]string{"content": a.Message})
	case KindNtfy:
		body, ctype = []byte(a.Message), "text/plain; charset=utf-8"
	default:
		body, err = json.Marshal(a)
	}
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "claude-token-monitor")
	if t.Kind == KindNtfy {
		req.Header.Set("Title", fmt.Sprintf("ctm budget %s at %d%%", a.BudgetID, a.Threshold))
		prio, tag := "default", "moneybag"
		switch {
		case a.Threshold >= 100:
			prio, tag = "urgent", "rotating_light"
		case a.Threshold >= usage.BudgetNearPercent:
			prio, tag = "high", "warning"
		}
		req.Header.Set("Priority", prio)
		req.Header.Set("Tags", tag)
	}
	for k, v := range t.Headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// send makes one attempt.
func send(ctx context.Context, client *http.Client, t Target, a Alert, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := t.request(ctx, a)
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	// Drain a little so the connection can be reused; never read an
	// unbounded body.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return fmt.Errorf("%w: HTTP %d", errPermanent, resp.StatusCode)
	}
}

// deliver sends a to t, retrying transient failures with exponential
// backoff within r's bounds. It returns nil once t answered 2xx.
func deliver(ctx context.Context, client *http.Client, t Target, a Alert, r Retry, logger *slog.Logger) error {
	wait := r.Backoff
	var err error
	for attempt := 1; attempt <= r.Attempts; attempt++ {
		if err = send(ctx, client, t, a, r.Timeout); err == nil {
			return nil
		}
		if errors.Is(err, errPermanent) || attempt == r.Attempts {
			break
		}
		logger.Debug("budget notification failed; retrying", "target", t.Name, "budget", a.BudgetID,
			"threshold", a.Threshold, "attempt", attempt, "wait", wait, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, r.MaxBackoff)
	}
	return err
}
