package usage

import (
	"context"
	"time"
)

// Filter selects records. Zero fields select everything.
type Filter struct {
	// Since and Until bound Timestamp to [Since, Until).
	Since, Until time.Time
	Project      string
	Model        string
	SessionID    string
	User         string
}

// Contains reports whether r passes the filter. Stores filter in their query
// language; this is the reference meaning of each field.
func (f Filter) Contains(r *Record) bool {
	return (f.Since.IsZero() || !r.Timestamp.Before(f.Since)) &&
		(f.Until.IsZero() || r.Timestamp.Before(f.Until)) &&
		(f.Project == "" || r.Project == f.Project) &&
		(f.Model == "" || r.Model == f.Model) &&
		(f.SessionID == "" || r.SessionID == f.SessionID) &&
		(f.User == "" || r.User == f.User)
}

// Dimension is what an aggregate groups records by, besides model.
type Dimension int

const (
	// ByNothing puts every record in one group per model.
	ByNothing Dimension = iota
	// ByQuarterHour groups by the UTC quarter hour of the timestamp. Every
	// time zone's offset is a multiple of 15 minutes, so quarter-hour
	// buckets roll up exactly into local hours, days, weeks and months.
	ByQuarterHour
	// BySession groups by session id.
	BySession
	// ByProject groups by project path.
	ByProject
	// ByUser groups by user (team mode).
	ByUser
	// BySessionQuarterHour groups by UTC quarter hour and session id: Key
	// is the session id and Time the start of the quarter hour (Project is
	// left empty). It counts distinct sessions per local hour, day, week
	// or month without reading records, for the same reason ByQuarterHour
	// rolls up exactly into them.
	BySessionQuarterHour
	// ByBranch groups by git branch (Key "" for records without one).
	// This and the two below are kept by records only, not by any
	// rollup: a store sums them from records, which is slower than the
	// dimensions above but far cheaper than reading the records out.
	ByBranch
	// ByAgent groups by Record.AgentLabel: the subagent type, else
	// AgentSubagent for other sidechain requests, else AgentMain.
	ByAgent
	// ByAttribution groups by Record.Attribution (Key "" for none).
	ByAttribution
)

// FromRecords reports whether d is summed from records only (ByBranch,
// ByAgent, ByAttribution).
func (d Dimension) FromRecords() bool { return d == ByBranch || d == ByAgent || d == ByAttribution }

// Bucket is the sum of the records that share a group key and a model.
type Bucket struct {
	// Key is the session id, project or user, by Dimension; "" otherwise.
	Key string
	// Time is the start of the quarter hour for ByQuarterHour and
	// BySessionQuarterHour.
	Time  time.Time
	Model string
	Tokens
	// Cost is the sum of the records' costs.
	Cost    Money
	Entries int64
	// First and Last are the earliest and latest record timestamps.
	First, Last time.Time
	// Project is the project of the latest record, for BySession.
	Project string
}

// FileState is what the ingester remembers about a source file so that the
// next run reads only what was appended since.
type FileState struct {
	Path    string
	Device  uint64
	Inode   uint64
	Size    int64
	ModTime time.Time
	// Offset is the byte offset just past the last complete line consumed.
	Offset int64
	// BadLines counts lines that could not be parsed, for reporting.
	BadLines int64
	// Fingerprint is a hash of the up to 4 KiB just before Offset: when
	// they change, the file was rewritten in place and Offset means
	// nothing. 0 means unknown (states stored by earlier releases).
	Fingerprint uint64
}

// Batch is a unit of ingest: records and the file states that account for
// them, applied atomically so that a crash never leaves an offset that
// points past records which were not stored.
type Batch struct {
	Records []Record
	// Prompts are stored by Key; a prompt already stored is kept.
	Prompts []Prompt
	Files   []FileState
}

// BulkWriter stores a first index, batch by batch, in one transaction
// that becomes visible only at Commit: a store can then skip the work an
// Apply does to keep every intermediate state consistent and readable. A
// crash or Rollback before Commit leaves the store as it was.
type BulkWriter interface {
	Apply(ctx context.Context, b Batch) error
	Commit(ctx context.Context) error
	Rollback() error
}

// Snapshot is a point-in-time copy of the all-time totals, kept for
// /stats/history.
type Snapshot struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"timestamp"`
	Totals  Tokens          `json:"totals"`
	CostUSD Money           `json:"cost_usd"`
	Entries int64           `json:"entries"`
	Models  []SnapshotModel `json:"models"`
}

// SnapshotModel is one model's share of a Snapshot.
type SnapshotModel struct {
	Model string `json:"model"`
	Tokens
	CostUSD Money `json:"cost_usd"`
	Entries int64 `json:"entries"`
}

// Page is an offset/limit window over a list.
type Page struct {
	Limit, Offset int
}

// Store keeps usage records, ingest state and snapshots.
type Store interface {
	// Apply stores a batch in one transaction. A record whose Key is
	// already stored replaces it only when Record.Prefer says so, so
	// applying the same batch twice changes nothing.
	Apply(ctx context.Context, b Batch) error

	// FileStates returns the state of every file ingested so far, by path.
	FileStates(ctx context.Context) (map[string]FileState, error)

	// Aggregate sums the records that pass f, grouped by dim, model and
	// long-context flag. Returns EINVALID for an unknown dimension.
	Aggregate(ctx context.Context, f Filter, dim Dimension) ([]Bucket, error)

	// Records returns the records that pass f in timestamp order.
	// A zero Page.Limit means no limit.
	Records(ctx context.Context, f Filter, p Page) ([]Record, error)

	// Prompts returns the prompts that pass f (Model is ignored), in
	// session, then timestamp order.
	Prompts(ctx context.Context, f Filter) ([]Prompt, error)

	// CountRecords returns how many records pass f.
	CountRecords(ctx context.Context, f Filter) (int64, error)

	// LatestTimestamp returns the newest record timestamp, or the zero time
	// when the store is empty.
	LatestTimestamp(ctx context.Context) (time.Time, error)

	// SaveSnapshot stores s and returns it with its ID set.
	SaveSnapshot(ctx context.Context, s Snapshot) (Snapshot, error)

	// Snapshots returns the snapshots taken in [since, until) (zero bounds
	// are open), newest first, and the total number that match.
	Snapshots(ctx context.Context, since, until time.Time, p Page) ([]Snapshot, int64, error)

	// PruneSnapshots deletes snapshots taken before t and returns how many.
	// Usage records are never pruned.
	PruneSnapshots(ctx context.Context, before time.Time) (int64, error)

	// Close releases the store.
	Close() error
}
