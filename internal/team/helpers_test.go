package team

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// memStore is an in-memory store with the Store contract's upsert rule,
// enough for push and the handlers. It can fail on demand.
type memStore struct {
	mu      sync.Mutex
	records map[string]usage.Record
	seq     map[string]int // insertion order, for ties
	next    int
	applies int
	fail    error
	tokens  map[string]string
}

func newMemStore() *memStore {
	return &memStore{records: map[string]usage.Record{}, seq: map[string]int{}, tokens: map[string]string{}}
}

func (m *memStore) Apply(_ context.Context, b usage.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.applies++
	for _, r := range b.Records {
		if r.Key == "" {
			return usage.Errorf(usage.EINVALID, "no key")
		}
	}
	for _, r := range b.Records {
		old, ok := m.records[r.Key]
		if !ok {
			m.seq[r.Key] = m.next
			m.next++
		}
		if !ok || r.Prefer(&old) {
			m.records[r.Key] = r
		}
	}
	return nil
}

func (m *memStore) all(f usage.Filter) []usage.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []usage.Record
	for _, r := range m.records {
		if f.Contains(&r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b usage.Record) int {
		if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
			return c
		}
		return cmp.Compare(m.seq[a.Key], m.seq[b.Key])
	})
	return out
}

func (m *memStore) Records(_ context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	out := m.all(f)
	if p.Offset >= len(out) {
		return nil, nil
	}
	out = out[p.Offset:]
	if p.Limit > 0 && p.Limit < len(out) {
		out = out[:p.Limit]
	}
	return out, nil
}

func (m *memStore) Aggregate(_ context.Context, f usage.Filter, _ usage.Dimension) ([]usage.Bucket, error) {
	var b usage.Bucket
	for _, r := range m.all(f) {
		b.Tokens = b.Tokens.Add(r.Tokens)
		b.Entries++
	}
	if b.Entries == 0 {
		return nil, nil
	}
	return []usage.Bucket{b}, nil
}

func (m *memStore) LatestTimestamp(context.Context) (time.Time, error) {
	rs := m.all(usage.Filter{})
	if len(rs) == 0 {
		return time.Time{}, nil
	}
	return rs[len(rs)-1].Timestamp, nil
}

func (m *memStore) UserForToken(_ context.Context, token string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.tokens[token]; ok {
		return u, nil
	}
	return "", usage.Errorf(usage.EUNAUTHORIZED, "invalid token")
}

// sum returns the stored totals.
func (m *memStore) sum() (usage.Tokens, int) {
	var t usage.Tokens
	rs := m.all(usage.Filter{})
	for _, r := range rs {
		t = t.Add(r.Tokens)
	}
	return t, len(rs)
}

// discard is a logger that drops everything.
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// t0 is the base time of test records.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// testRecord returns a valid transcript record number i.
func testRecord(prefix string, i int) usage.Record {
	msg := prefix + "msg" + itoa(i)
	req := prefix + "req" + itoa(i)
	return usage.Record{
		Key:       usage.RecordKey(msg, req, ""),
		MessageID: msg,
		RequestID: req,
		Timestamp: t0.Add(time.Duration(i) * time.Second),
		Model:     "claude-opus-4-6",
		SessionID: "s" + itoa(i%5),
		Project:   "/p/" + itoa(i%3),
		Tokens:    usage.Tokens{Input: int64(i + 1), Output: int64(2*i + 1), CacheRead: 100, CacheCreation1h: int64(i % 7)},
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// records returns n test records.
func records(prefix string, n int) []usage.Record {
	rs := make([]usage.Record, n)
	for i := range rs {
		rs[i] = testRecord(prefix, i)
	}
	return rs
}

// sumOf returns the totals of rs.
func sumOf(rs []usage.Record) usage.Tokens {
	var t usage.Tokens
	for _, r := range rs {
		t = t.Add(r.Tokens)
	}
	return t
}

// fixedNow is the handlers' clock in tests.
func fixedNow() time.Time { return t0.Add(24 * time.Hour) }

// mustApply applies rs to s.
func mustApply(t *testing.T, s interface {
	Apply(context.Context, usage.Batch) error
}, rs []usage.Record) {
	t.Helper()
	if err := s.Apply(t.Context(), usage.Batch{Records: rs}); err != nil {
		t.Fatalf("Apply(%d records) = %v", len(rs), err)
	}
}
