package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// DefaultInterval is how often the alerter checks the budgets with no
// ingest to prompt it: undelivered notifications are retried then.
const DefaultInterval = time.Minute

// Options configures an Alerter. Config, Views and Store are required.
type Options struct {
	Config *Config
	// Views returns the views the budgets are computed with, over all of
	// the store's records (not one user's).
	Views func() *views.Views
	// Store logs delivered notifications.
	Store usage.BudgetAlertStore
	// Client sends the notifications; nil uses a client without
	// redirects to other hosts' credentials (http.DefaultClient rules).
	Client *http.Client
	Retry  Retry
	// Broadcast, when set, receives each alert once per budget, period
	// and threshold, as the WebSocket target: ctm serve passes it to the
	// hub as a budget_alert message.
	Broadcast func(Alert)
	// Interval is the period of the checks that no ingest prompts; 0
	// means DefaultInterval.
	Interval time.Duration
	Logger   *slog.Logger
}

// Alerter evaluates budgets and notifies targets. Trigger asks for a check
// without waiting for it, so that ingest never blocks on the network; Run
// performs the checks, one at a time.
type Alerter struct {
	opts    Options
	trigger chan struct{}
	checkMu sync.Mutex
	// clock is time.Now but in tests.
	clock func() time.Time
	// failMu guards failed, which holds, per undelivered notification,
	// when the next check may try it again.
	failMu sync.Mutex
	failed map[alertKey]retryAfter
}

// alertKey identifies one notification to one target.
type alertKey struct {
	budget    string
	start     int64
	threshold int
	target    string
}

// retryAfter is the backoff of a notification that failed: ingest
// triggers a check after every batch, and without it a dead or
// misconfigured target would be contacted (Retry.Attempts times) by each.
type retryAfter struct {
	next time.Time
	wait time.Duration
}

// maxCheckBackoff bounds the wait between checks that retry a failed
// notification.
const maxCheckBackoff = time.Hour

// New builds an Alerter.
func New(opts Options) (*Alerter, error) {
	if opts.Config == nil || opts.Views == nil || opts.Store == nil {
		return nil, errors.New("budget: Config, Views and Store are required")
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Retry = opts.Retry.withDefaults()
	return &Alerter{opts: opts, trigger: make(chan struct{}, 1), clock: time.Now, failed: map[alertKey]retryAfter{}}, nil
}

// Trigger asks Run for a check soon. It never blocks: requests made while
// a check is pending coalesce into it.
func (a *Alerter) Trigger() {
	select {
	case a.trigger <- struct{}{}:
	default:
	}
}

// Run checks at once, then on every Trigger and every Interval, until ctx
// is done.
func (a *Alerter) Run(ctx context.Context) {
	t := time.NewTicker(a.opts.Interval)
	defer t.Stop()
	for {
		if err := a.Check(ctx); err != nil && ctx.Err() == nil {
			a.opts.Logger.Error("budgets", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.trigger:
		case <-t.C:
		}
	}
}

// Check computes every budget and sends, to each target, the highest
// threshold crossed in the current period that the target has not
// acknowledged yet; lower thresholds it has not seen are logged as covered
// by it, so a budget that jumps from 0 to 120 % sends one notification, not
// three. A notification is logged only after a 2xx, so one that failed
// every attempt is sent again by a later check or after a restart, and
// one that was delivered never is. (A crash between the 2xx and the log
// write would send it again: delivery is at least once, and exactly once
// whenever the log write succeeds.)
func (a *Alerter) Check(ctx context.Context) error {
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	if len(a.opts.Config.Budgets) == 0 {
		return nil
	}
	st, err := a.opts.Views().Budgets(ctx, a.opts.Config.Budgets)
	if err != nil {
		return err
	}
	since := time.Time{}
	for i, b := range st.Budgets {
		if i == 0 || b.PeriodStart.Before(since) {
			since = b.PeriodStart
		}
	}
	sentList, err := a.opts.Store.BudgetAlertsSent(ctx, since)
	if err != nil {
		return err
	}
	type key = alertKey
	sent := map[key]bool{}
	for _, s := range sentList {
		sent[key{s.BudgetID, s.PeriodStart.UnixMilli(), s.Threshold, s.Target}] = true
	}
	a.forgetEndedPeriods(st.Budgets)
	now := a.clock()
	targets := a.opts.Config.Targets
	if a.opts.Broadcast != nil {
		targets = append(append([]Target{}, targets...), Target{Name: TargetWebSocket, Kind: TargetWebSocket})
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, b := range st.Budgets {
		if len(b.Crossed) == 0 {
			continue
		}
		top := b.Crossed[len(b.Crossed)-1]
		for _, t := range targets {
			k := key{b.ID, b.PeriodStart.UnixMilli(), top, t.Name}
			if sent[k] || now.Before(a.retryAt(k)) {
				continue
			}
			alert := newAlert(b, top)
			var pending []int
			for _, th := range b.Crossed {
				if !sent[key{b.ID, b.PeriodStart.UnixMilli(), th, t.Name}] {
					pending = append(pending, th)
				}
			}
			wg.Go(func() {
				if err := a.notify(ctx, k, t, alert, pending); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// notify delivers alert to t and logs it, with the lower thresholds it
// covers, as sent.
func (a *Alerter) notify(ctx context.Context, k alertKey, t Target, alert Alert, thresholds []int) error {
	if t.Kind == TargetWebSocket {
		a.opts.Broadcast(alert)
	} else if err := deliver(ctx, a.opts.Client, t, alert, a.opts.Retry, a.opts.Logger); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		wait := a.failedOnce(k)
		a.opts.Logger.Warn("budget notification not delivered; will retry", "target", t.Name,
			"budget", alert.BudgetID, "threshold", alert.Threshold, "retry_in", wait, "error", err)
		return nil
	}
	a.failMu.Lock()
	delete(a.failed, k)
	a.failMu.Unlock()
	a.opts.Logger.Info("budget notification sent", "target", t.Name, "budget", alert.BudgetID,
		"threshold", alert.Threshold, "percent", fmt.Sprintf("%.1f", alert.Percent))
	now := time.Now()
	// Delivered is delivered: log it even when shutdown has begun, or the
	// next start would send it again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, th := range thresholds {
		if _, err := a.opts.Store.MarkBudgetAlertSent(ctx, usage.BudgetAlert{BudgetID: alert.BudgetID,
			PeriodStart: alert.PeriodStart, Threshold: th, Target: t.Name, SentAt: now}); err != nil {
			return fmt.Errorf("log budget notification: %w", err)
		}
	}
	return nil
}

// forgetEndedPeriods drops the backoff of notifications for periods that
// are no longer current (or budgets no longer configured): they will never
// be tried again, and a server running for months would otherwise keep one
// entry per failed period.
func (a *Alerter) forgetEndedPeriods(current []views.BudgetStatus) {
	type period struct {
		budget string
		start  int64
	}
	live := make(map[period]bool, len(current))
	for _, b := range current {
		live[period{b.ID, b.PeriodStart.UnixMilli()}] = true
	}
	a.failMu.Lock()
	defer a.failMu.Unlock()
	for k := range a.failed {
		if !live[period{k.budget, k.start}] {
			delete(a.failed, k)
		}
	}
}

// retryAt returns when the notification k may be tried again; zero when
// it has not failed.
func (a *Alerter) retryAt(k alertKey) time.Time {
	a.failMu.Lock()
	defer a.failMu.Unlock()
	return a.failed[k].next
}

// failedOnce records that a check failed to deliver k and returns how long
// later checks leave it alone: Interval after the first failed check,
// doubling up to maxCheckBackoff.
func (a *Alerter) failedOnce(k alertKey) time.Duration {
	a.failMu.Lock()
	defer a.failMu.Unlock()
	f := a.failed[k]
	if f.wait == 0 {
		f.wait = a.opts.Interval
	} else {
		f.wait = min(2*f.wait, maxCheckBackoff)
	}
	f.next = a.clock().Add(f.wait)
	a.failed[k] = f
	return f.wait
}
