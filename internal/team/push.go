package team

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/httpapi"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Source is what Push reads from the local store; usage.Store implements
// it.
type Source interface {
	// Records returns the records that pass f in timestamp order.
	Records(ctx context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error)
	// Aggregate sums the records that pass f.
	Aggregate(ctx context.Context, f usage.Filter, dim usage.Dimension) ([]usage.Bucket, error)
	// LatestTimestamp returns the newest record timestamp.
	LatestTimestamp(ctx context.Context) (time.Time, error)
}

// Defaults of PushOptions.
const (
	DefaultBatchSize = 1000
	DefaultAPIPrefix = "/api/v1"
	DefaultLookback  = time.Hour
	DefaultInterval  = 30 * time.Second
	defaultRetries   = 2
)

// PushOptions tunes Push. The zero value works.
type PushOptions struct {
	// Machine names this machine on the server; default os.Hostname().
	Machine string
	// BatchSize is how many records one request carries; default
	// DefaultBatchSize, at most MaxBatchRecords.
	BatchSize int
	// APIPrefix is the server's API prefix, added to serverURL unless the
	// URL's path already ends with it; default DefaultAPIPrefix.
	APIPrefix string
	// Cursor, when it is for the same server, lets Push send only what
	// may have changed since the push that returned it; nil pushes all.
	Cursor *Cursor
	// Lookback is how far before the newest record the next cursor
	// starts, so records that reach the local store a little late (a
	// second session's file ingested after the first's) are still sent;
	// default DefaultLookback.
	Lookback time.Duration
	// Retries is how many times a batch is retried after a network error
	// or a 5xx; default 2. Negative means none.
	Retries int
	// Client sends the requests; default a client with a 60 s timeout.
	Client *http.Client
	// Logger receives progress at debug level; default discards.
	Logger *slog.Logger
}

// Cursor is where a push may resume. Records before Since are assumed to
// be on the server as long as their local totals (Before) are unchanged;
// when they changed (an old transcript ingested late, a copy replaced),
// the next push starts from the beginning. Sending a record again is
// harmless, so the cursor only saves work: it never decides correctness
// on the server.
type Cursor struct {
	Server string    `json:"server"`
	Since  time.Time `json:"since"`
	Before Totals    `json:"before"`
}

// Totals is the fingerprint of the local records before a cursor.
type Totals struct {
	usage.Tokens
	Entries int64 `json:"entries"`
}

// PushResult reports a push.
type PushResult struct {
	// Sent is how many records were sent, Batches in how many requests.
	Sent, Batches int
	// Skipped is how many local records were not sent because the server
	// would reject them (see ValidateRecord); each is logged.
	Skipped int
	// Prompts is how many prompts were sent (when the source holds
	// them, see PromptSource).
	Prompts int
	// Full is true when every local record was sent (no usable cursor).
	Full bool
	// Cursor is where the next push may resume.
	Cursor Cursor
}

// pushClient is one push: its endpoint, credentials and options.
type pushClient struct {
	endpoint string
	token    string
	opts     PushOptions
}

// Push sends the local records to the team server at serverURL, with
// token, in batches. It is idempotent: the server upserts by record key,
// so an interrupted push that is run again never double-counts. It
// returns EUNAUTHORIZED (or EFORBIDDEN) when the server refuses the token,
// EINVALID when it refuses a batch, and other errors for network
// failures.
func Push(ctx context.Context, src Source, serverURL, token string, opts PushOptions) (PushResult, error) {
	c, err := newPushClient(serverURL, token, opts)
	if err != nil {
		return PushResult{}, err
	}
	return c.push(ctx, src)
}

// newPushClient checks the arguments and fills defaults.
func newPushClient(serverURL, token string, opts PushOptions) (*pushClient, error) {
	if token == "" {
		return nil, usage.Errorf(usage.EINVALID, "token is empty")
	}
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usage.Errorf(usage.EINVALID, "server URL %q is not an http(s) URL", serverURL)
	}
	if opts.APIPrefix == "" {
		opts.APIPrefix = DefaultAPIPrefix
	}
	path := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(path, strings.TrimRight(opts.APIPrefix, "/")) {
		path += strings.TrimRight(opts.APIPrefix, "/")
	}
	u.Path, u.RawQuery, u.Fragment = path+IngestPath, "", ""
	if opts.Machine == "" {
		if opts.Machine, err = os.Hostname(); err != nil || opts.Machine == "" {
			opts.Machine = "unknown"
		}
	}
	if err := usage.ValidName("machine", opts.Machine); err != nil {
		return nil, err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	opts.BatchSize = min(opts.BatchSize, MaxBatchRecords)
	if opts.Lookback <= 0 {
		opts.Lookback = DefaultLookback
	}
	if opts.Retries == 0 {
		opts.Retries = defaultRetries
	}
	if opts.Client == nil {
		// A batch is at most a few MiB; a minute is plenty even on a slow
		// link, and a hung server must not hang `ctm push` forever.
		opts.Client = &http.Client{Timeout: time.Minute}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &pushClient{endpoint: u.String(), token: token, opts: opts}, nil
}

// push runs one round.
func (c *pushClient) push(ctx context.Context, src Source) (PushResult, error) {
	// An empty batch first: a wrong token or URL fails at once with a
	// clear message, even when there is nothing to send.
	if err := c.send(ctx, nil); err != nil {
		return PushResult{}, err
	}
	latest, err := src.LatestTimestamp(ctx)
	if err != nil {
		return PushResult{}, fmt.Errorf("push: %w", err)
	}
	res := PushResult{Full: true, Cursor: Cursor{Server: c.endpoint}}
	if latest.IsZero() {
		return res, nil
	}
	// The fingerprint of the next cursor is taken before reading, so that
	// anything stored while this round reads shows as a change next time.
	next := Cursor{Server: c.endpoint, Since: latest.Add(-c.opts.Lookback)}
	if next.Before, err = totals(ctx, src, next.Since); err != nil {
		return PushResult{}, err
	}
	var since time.Time
	if cur := c.opts.Cursor; cur != nil && cur.Server == c.endpoint && !cur.Since.IsZero() {
		before, err := totals(ctx, src, cur.Since)
		if err != nil {
			return PushResult{}, err
		}
		if before == cur.Before {
			since, res.Full = cur.Since, false
		}
	}
	// Until bounds the pages, so that records stored meanwhile with later
	// timestamps cannot shift them; those are sent next round.
	f := usage.Filter{Since: since, Until: latest.Add(time.Millisecond)}
	for off := 0; ; off += c.opts.BatchSize {
		rs, err := src.Records(ctx, f, usage.Page{Limit: c.opts.BatchSize, Offset: off})
		if err != nil {
			return res, fmt.Errorf("push: read records: %w", err)
		}
		if len(rs) == 0 {
			break
		}
		full := len(rs) == c.opts.BatchSize
		rs = c.sendable(ctx, rs, &res)
		if err := c.send(ctx, rs); err != nil {
			return res, err
		}
		res.Sent += len(rs)
		res.Batches++
		c.opts.Logger.DebugContext(ctx, "pushed batch", slog.Int("records", len(rs)), slog.Int("sent", res.Sent))
		if !full {
			break
		}
	}
	// Prompts from the same point on, newer ones included: a prompt may
	// precede its first response.
	if err := c.pushPrompts(ctx, src, since, time.Time{}, &res); err != nil {
		return res, err
	}
	res.Cursor = next
	return res, nil
}

// sendable drops, logs and counts the records the server would reject,
// so that one odd local record cannot stop every later push.
func (c *pushClient) sendable(ctx context.Context, rs []usage.Record, res *PushResult) []usage.Record {
	now := time.Now()
	out := rs[:0]
	for i := range rs {
		if err := ValidateRecord(&rs[i], now); err != nil {
			res.Skipped++
			c.opts.Logger.WarnContext(ctx, "record not pushed", slog.String("key", rs[i].Key), slog.String("reason", usage.ErrorMessage(err)))
			continue
		}
		out = append(out, rs[i])
	}
	return out
}

// totals returns the fingerprint of the local records before t.
func totals(ctx context.Context, src Source, t time.Time) (Totals, error) {
	bs, err := src.Aggregate(ctx, usage.Filter{Until: t}, usage.ByNothing)
	if err != nil {
		return Totals{}, fmt.Errorf("push: local totals: %w", err)
	}
	var sum Totals
	for _, b := range bs {
		sum.Tokens = sum.Tokens.Add(b.Tokens)
		sum.Entries += b.Entries
	}
	return sum, nil
}

// send posts one batch of records, retrying network errors and 5xx
// responses.
func (c *pushClient) send(ctx context.Context, rs []usage.Record) error {
	return c.sendRequest(ctx, IngestRequest{Machine: c.opts.Machine, Records: outgoing(rs)})
}

// sendRequest posts one request, retrying network errors and 5xx
// responses.
func (c *pushClient) sendRequest(ctx context.Context, req IngestRequest) error {
	body, err := encodeBatch(req)
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; attempt <= max(c.opts.Retries, 0); attempt++ {
		if attempt > 0 {
			// Back off a little so that a restarting server can come up.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		retry, err := c.post(ctx, body)
		if err == nil || !retry {
			return err
		}
		last = err
		c.opts.Logger.DebugContext(ctx, "push batch failed, retrying", slog.Int("attempt", attempt+1), slog.Any("error", err))
	}
	return last
}

// outgoing returns the records to send: the server decides the user, so
// local user fields are cleared.
func outgoing(rs []usage.Record) []usage.Record {
	out := make([]usage.Record, len(rs))
	for i, r := range rs {
		r.User = ""
		out[i] = r
	}
	return out
}

// encodeBatch returns the gzipped JSON of req.
func encodeBatch(req IngestRequest) ([]byte, error) {
	if req.Records == nil {
		req.Records = []usage.Record{}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(req); err != nil {
		return nil, fmt.Errorf("push: encode batch: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("push: encode batch: %w", err)
	}
	return buf.Bytes(), nil
}

// post sends one request and reports whether a failure is worth a retry.
func (c *pushClient) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("push: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := c.opts.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return true, fmt.Errorf("push to %s: %w", c.endpoint, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		return false, nil
	}
	msg := serverMessage(data, resp.Status)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return false, usage.Errorf(usage.EUNAUTHORIZED, "server %s refused the token: %s", c.endpoint, msg)
	case resp.StatusCode == http.StatusForbidden:
		return false, usage.Errorf(usage.EFORBIDDEN, "server %s refused the push: %s", c.endpoint, msg)
	case resp.StatusCode == http.StatusNotFound:
		return false, usage.Errorf(usage.EINVALID, "server %s has no ingest route (is it a ctm team server, and the URL right?)", c.endpoint)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return false, usage.Errorf(usage.EINVALID, "server %s rejected the batch: %s", c.endpoint, msg)
	}
	return true, fmt.Errorf("push to %s: %s", c.endpoint, msg)
}

// serverMessage extracts the error message of an API error envelope.
func serverMessage(data []byte, status string) string {
	var env httpapi.Envelope
	if json.Unmarshal(data, &env) == nil && env.Error != nil && env.Error.Message != "" {
		return env.Error.Message
	}
	return status
}

// WatchOptions tunes Watch.
type WatchOptions struct {
	PushOptions
	// Interval is the time between pushes; default DefaultInterval.
	Interval time.Duration
	// CursorFile, when set, keeps the cursor across runs (see
	// LoadCursor).
	CursorFile string
	// OnPush, when set, is called after every successful round.
	OnPush func(PushResult)
}

// Watch pushes every Interval until ctx is done, resuming each round from
// the last one's cursor. Network and server errors are logged and retried
// next round; a refused token (EUNAUTHORIZED, EFORBIDDEN) or rejected
// data (EINVALID) ends Watch with that error, since repeating cannot help.
// It returns nil when ctx is cancelled.
func Watch(ctx context.Context, src Source, serverURL, token string, opts WatchOptions) error {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	c, err := newPushClient(serverURL, token, opts.PushOptions)
	if err != nil {
		return err
	}
	if opts.CursorFile != "" && c.opts.Cursor == nil {
		if cur, err := LoadCursor(opts.CursorFile); err == nil {
			c.opts.Cursor = &cur
		}
	}
	logger := c.opts.Logger
	for {
		res, err := c.push(ctx, src)
		switch code := usage.ErrorCode(err); {
		case err == nil:
			c.opts.Cursor = &res.Cursor
			if opts.CursorFile != "" {
				if err := SaveCursor(opts.CursorFile, res.Cursor); err != nil {
					logger.WarnContext(ctx, "cannot save push cursor", slog.Any("error", err))
				}
			}
			if opts.OnPush != nil {
				opts.OnPush(res)
			}
		case ctx.Err() != nil:
			return nil
		case code == usage.EUNAUTHORIZED || code == usage.EFORBIDDEN || code == usage.EINVALID:
			return err
		default:
			logger.WarnContext(ctx, "push failed; retrying next round", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opts.Interval):
		}
	}
}

// LoadCursor reads a cursor saved by SaveCursor.
func LoadCursor(path string) (Cursor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Cursor{}, fmt.Errorf("load push cursor: %w", err)
	}
	var c Cursor
	if err := json.Unmarshal(data, &c); err != nil {
		return Cursor{}, fmt.Errorf("load push cursor %s: %w", path, err)
	}
	return c, nil
}

// SaveCursor writes c to path atomically (a temporary file renamed over
// it), so that a crash never leaves a torn cursor.
func SaveCursor(path string, c Cursor) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("save push cursor: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cursor-*")
	if err != nil {
		return fmt.Errorf("save push cursor: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save push cursor: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save push cursor: %w", err)
	}
	return nil
}
