package storetest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// memStore is the simplest usage.Store that meets the contract, written
// from the usage package's definitions alone. Running the suite on it
// shows that the suite asks for nothing beyond the contract.
type memStore struct {
	mu      sync.Mutex
	closed  bool
	records map[string]usage.Record
	prompts map[string]usage.Prompt
	files   map[string]usage.FileState
	snaps   []usage.Snapshot
	nextID  int64
}

var errClosed = errors.New("store is closed")

func newMemStore() *memStore {
	return &memStore{records: map[string]usage.Record{}, prompts: map[string]usage.Prompt{}, files: map[string]usage.FileState{}}
}

func (m *memStore) Apply(_ context.Context, b usage.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	for _, r := range b.Records {
		if r.Key == "" {
			return usage.Errorf(usage.EINVALID, "record has no key")
		}
	}
	for _, f := range b.Files {
		if f.Path == "" {
			return usage.Errorf(usage.EINVALID, "file state has no path")
		}
	}
	for _, p := range b.Prompts {
		if p.Key == "" || p.Timestamp.Year() > 9999 {
			return usage.Errorf(usage.EINVALID, "prompt %q is invalid", p.Key)
		}
	}
	for _, p := range b.Prompts {
		if _, ok := m.prompts[p.Key]; !ok {
			p.Timestamp = p.Timestamp.Truncate(time.Millisecond)
			m.prompts[p.Key] = p
		}
	}
	for _, r := range b.Records {
		r.Timestamp = r.Timestamp.Truncate(time.Millisecond)
		r.Cost, _ = Prices.Price(&r)
		if old, ok := m.records[r.Key]; !ok || r.Prefer(&old) {
			m.records[r.Key] = r
		}
	}
	for _, f := range b.Files {
		m.files[f.Path] = f
	}
	return nil
}

func (m *memStore) FileStates(context.Context) (map[string]usage.FileState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	out := map[string]usage.FileState{}
	for k, v := range m.files {
		out[k] = v
	}
	return out, nil
}

// sorted returns the records that pass f in timestamp order.
func (m *memStore) sorted(f usage.Filter) []usage.Record {
	var out []usage.Record
	for _, r := range m.records {
		if f.Contains(&r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b usage.Record) int { return a.Timestamp.Compare(b.Timestamp) })
	return out
}

func (m *memStore) Aggregate(_ context.Context, f usage.Filter, dim usage.Dimension) ([]usage.Bucket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	if dim < usage.ByNothing || dim > usage.ByAttribution {
		return nil, usage.Errorf(usage.EINVALID, "unknown dimension %d", dim)
	}
	return reference(m.sorted(usage.Filter{}), f, dim), nil
}

func (m *memStore) Records(_ context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	if p.Limit < 0 || p.Offset < 0 {
		return nil, usage.Errorf(usage.EINVALID, "negative page")
	}
	return window(m.sorted(f), p), nil
}

// window applies p to xs.
func window[T any](xs []T, p usage.Page) []T {
	xs = xs[min(p.Offset, len(xs)):]
	if p.Limit > 0 {
		xs = xs[:min(p.Limit, len(xs))]
	}
	return xs
}

func (m *memStore) Prompts(_ context.Context, f usage.Filter) ([]usage.Prompt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	var out []usage.Prompt
	for _, p := range m.prompts {
		r := usage.Record{Timestamp: p.Timestamp, SessionID: p.SessionID, Project: p.Project, User: p.User}
		f.Model = ""
		if f.Contains(&r) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b usage.Prompt) int {
		return cmp.Or(cmp.Compare(a.SessionID, b.SessionID), a.Timestamp.Compare(b.Timestamp), cmp.Compare(a.Key, b.Key))
	})
	return out, nil
}

func (m *memStore) CountRecords(_ context.Context, f usage.Filter) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errClosed
	}
	return int64(len(m.sorted(f))), nil
}

func (m *memStore) LatestTimestamp(context.Context) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return time.Time{}, errClosed
	}
	var latest time.Time
	for _, r := range m.records {
		if r.Timestamp.After(latest) {
			latest = r.Timestamp
		}
	}
	return latest, nil
}

func (m *memStore) SaveSnapshot(_ context.Context, s usage.Snapshot) (usage.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return s, errClosed
	}
	m.nextID++
	s.ID = m.nextID
	m.snaps = append(m.snaps, s)
	return s, nil
}

func (m *memStore) Snapshots(_ context.Context, since, until time.Time, p usage.Page) ([]usage.Snapshot, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, 0, errClosed
	}
	if p.Limit < 0 || p.Offset < 0 {
		return nil, 0, usage.Errorf(usage.EINVALID, "negative page")
	}
	var out []usage.Snapshot
	for _, s := range m.snaps {
		if (since.IsZero() || !s.Time.Before(since)) && (until.IsZero() || s.Time.Before(until)) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b usage.Snapshot) int { return b.Time.Compare(a.Time) })
	return window(out, p), int64(len(out)), nil
}

func (m *memStore) PruneSnapshots(_ context.Context, before time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errClosed
	}
	n := len(m.snaps)
	m.snaps = slices.DeleteFunc(m.snaps, func(s usage.Snapshot) bool { return s.Time.Before(before) })
	return int64(n - len(m.snaps)), nil
}

func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func TestRunOnMemoryStore(t *testing.T) {
	Run(t, func(t *testing.T) usage.Store {
		s := newMemStore()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestPermutations(t *testing.T) {
	ps := permutations(3)
	seen := map[[3]int]bool{}
	for _, p := range ps {
		seen[[3]int(p)] = true
	}
	if len(ps) != 6 || len(seen) != 6 {
		t.Errorf("permutations(3) = %v, want the 6 distinct orderings", ps)
	}
}
