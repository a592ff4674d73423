// Package ingest reads the files Claude Code writes (transcripts,
// stats-cache.json, history.jsonl) and feeds the usage records found in
// transcripts to a store, incrementally: each run reads only the complete
// lines appended since the previous one.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-token-monitor/ctm/internal/source"
	"github.com/claude-token-monitor/ctm/internal/source/claude"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Sink is the part of usage.Store the ingester writes to.
type Sink interface {
	// FileStates returns the state of every file ingested so far, by path.
	FileStates(ctx context.Context) (map[string]usage.FileState, error)
	// Apply stores records and the file states that account for them in
	// one transaction; a stored record is replaced only when
	// Record.Prefer says so. It must not keep b once it returns: the
	// ingester reuses b.Records for the next batch.
	Apply(ctx context.Context, b usage.Batch) error
}

var _ Sink = usage.Store(nil)

// PathStatesSink is a Sink that can return the states of some files
// only; IngestFiles, run without a cached copy of every state (as by
// `ctm statusline`), loads just those of its paths.
type PathStatesSink interface {
	FileStatesOf(ctx context.Context, paths []string) (map[string]usage.FileState, error)
}

// BulkSink is a Sink that can take a first index in one transaction
// (usage.BulkWriter). BeginBulk returns nil when the sink is not empty.
type BulkSink interface {
	BeginBulk(ctx context.Context) (usage.BulkWriter, error)
}

// Options tune an Ingester. Zero values take the defaults.
type Options struct {
	// Workers is how many files are parsed at once (default 2). A single
	// goroutine writes to the sink whatever the number.
	Workers int
	// BatchRecords and BatchFiles bound one Apply: a batch is written once
	// it holds this many distinct records (default 10,000) or file states
	// (default 500).
	BatchRecords, BatchFiles int
	// MaxLineBytes is the longest line read (default 64 MiB); a longer
	// line is skipped and counted as bad, so that a file of junk with no
	// newline cannot exhaust memory.
	MaxLineBytes int
	// Progress, when set, is called once before reading, with 0 and the
	// bytes to read in all, then after each piece of work with the bytes
	// read so far and that total. It is called from the goroutine that
	// called Run or IngestFiles.
	Progress func(doneBytes, totalBytes int64)
	// ListingCache, when set, is a file in which Run's walk of the
	// Claude directories keeps the folder listings it took, so that the
	// next walk lists again only the folders that changed (see
	// claude.Layout.SetListingCache). New uses it; NewFromSource leaves
	// it to the source.
	ListingCache string
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Workers, 2)
	def(&o.BatchRecords, 10_000)
	def(&o.BatchFiles, 500)
	def(&o.MaxLineBytes, 64<<20)
	return o
}

// Result summarises one ingest run.
type Result struct {
	// FilesScanned counts the files looked at, FilesChanged those that had
	// bytes to read.
	FilesScanned, FilesChanged int
	// Records counts usage records parsed; Written counts those sent to
	// the sink after merging copies of one response within a batch.
	Records, Written int64
	// BadLines counts lines that could not be parsed.
	BadLines int64
	// BadValues counts records kept with an out-of-range value replaced
	// (a negative token count read as 0).
	BadValues int64
	BytesRead int64
	Duration  time.Duration
}

// Ingester brings a Sink up to date with the transcripts under a set of
// Claude directories. Its methods may be called from several goroutines;
// runs are serialised.
type Ingester struct {
	sink Sink
	// src knows where the transcripts are and what their paths say.
	src    source.Source
	logger *slog.Logger
	opts   Options
	// raw holds the options as given, to tell a default from a choice.
	raw Options
	// bulkBytes is the size of a bulk run (see batchLimits); tests lower it.
	bulkBytes int64

	mu sync.Mutex
	// states caches the sink's file states; it is updated only after an
	// Apply succeeds. Another process ingesting into the same sink can
	// make it stale, which costs a re-read but never a double count
	// because records are upserted by key.
	states map[string]usage.FileState
}

// New returns an Ingester that reads the transcripts of Claude Code's
// layout under each root into sink. A nil logger discards logs.
func New(sink Sink, roots []string, logger *slog.Logger, opts Options) *Ingester {
	l := claude.New(roots)
	l.SetListingCache(opts.ListingCache)
	return NewFromSource(sink, l, logger, opts)
}

// NewFromSource returns an Ingester that reads the transcripts src lists
// into sink. A nil logger discards logs.
func NewFromSource(sink Sink, src source.Source, logger *slog.Logger, opts Options) *Ingester {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Ingester{sink: sink, src: src, logger: logger, opts: opts.withDefaults(), raw: opts, bulkBytes: bulkBytes}
}

// Run catches up with every transcript under the roots.
func (in *Ingester) Run(ctx context.Context) (Result, error) {
	return in.RunSurvey(ctx, StartSurvey(ctx, in.src, in.logger))
}

// A Survey is the part of a catch-up that needs only the file system: the
// transcripts a source lists and a stat of each. StartSurvey takes it on a
// goroutine of its own, so that a command can open its store meanwhile:
// on an unchanged tree of 100 MB the two took about as long as each other
// (3 ms), and the survey was a quarter of the report.
type Survey struct {
	src   source.Source
	start time.Time
	done  chan struct{}
	paths []string
	stats []statted
	err   error
}

// StartSurvey begins listing and statting the transcripts of src. Pass the
// Survey to RunSurvey of an Ingester reading src, or call Wait when the
// catch-up is called off.
func StartSurvey(ctx context.Context, src source.Source, logger *slog.Logger) *Survey {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sv := &Survey{src: src, start: time.Now(), done: make(chan struct{})}
	go func() {
		defer close(sv.done)
		sv.paths, sv.err = src.Transcripts(ctx, logger)
		if sv.err == nil {
			sv.stats = statAll(sv.paths)
		}
	}()
	return sv
}

// Wait returns once the survey is over; cancelling the context given to
// StartSurvey cuts its walk short, and RunSurvey then fails.
func (sv *Survey) Wait() { <-sv.done }

// RunSurvey catches up with every transcript under the roots, as Run
// does, with the listing and stats that sv took. sv must come from the
// Ingester's own source (NewFromSource), as a listing of other folders
// would make the Ingester's files look gone.
func (in *Ingester) RunSurvey(ctx context.Context, sv *Survey) (Result, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if sv.src != in.src {
		sv.Wait()
		return Result{}, errors.New("ingest: the survey is of another source")
	}
	// The states come from the sink, the paths and their stats from the
	// file system: loading the one while the survey takes the other lets
	// them overlap (on 2 GB, 13k states took a fifth of a report after a
	// small append, the walk and the stats twice that).
	loaded := make(chan error, 1)
	go func() {
		states, err := in.sink.FileStates(ctx)
		if err == nil {
			in.states = states
		}
		loaded <- err
	}()
	sv.Wait()
	if sv.err != nil {
		<-loaded
		return Result{}, sv.err
	}
	return in.ingest(ctx, sv.paths, sv.stats, sv.start, loaded)
}

// IngestFiles reads only the given transcripts, as far as they have grown;
// paths that no longer exist are skipped.
func (in *Ingester) IngestFiles(ctx context.Context, paths []string) (Result, error) {
	start := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	clean := make([]string, 0, len(paths))
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil && !seen[abs] {
			seen[abs] = true
			clean = append(clean, abs)
		}
	}
	if in.states == nil {
		if ps, ok := in.sink.(PathStatesSink); ok {
			// Only these paths' states, for this run only: a partial
			// map kept as the cache would make other files look new.
			states, err := ps.FileStatesOf(ctx, clean)
			if err != nil {
				return Result{}, fmt.Errorf("load file states: %w", err)
			}
			in.states = states
			defer func() { in.states = nil }()
			return in.ingest(ctx, clean, nil, start, nil)
		}
		states, err := in.sink.FileStates(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("load file states: %w", err)
		}
		in.states = states
	}
	return in.ingest(ctx, clean, nil, start, nil)
}

// source describes path relative to the root that holds it.
func (in *Ingester) source(path string) Source {
	return in.src.Origin(path)
}

// job is one file to read, with what the sink knows of it.
type job struct {
	src   Source
	prev  usage.FileState
	known bool
	total int64 // bytes planned, for progress
}

// ingest reads paths (each once) with opts.Workers goroutines and applies
// what they find from this one. stats holds a stat of each path, or is nil
// for ingest to take them. Callers hold in.mu. When loaded is set,
// in.states is being loaded and loaded says when it is done and whether it
// failed.
func (in *Ingester) ingest(ctx context.Context, paths []string, stats []statted, start time.Time, loaded <-chan error) (Result, error) {
	var res Result
	var jobs []job
	var total int64
	if stats == nil {
		stats = statAll(paths)
	}
	if loaded != nil {
		if err := <-loaded; err != nil {
			return Result{}, fmt.Errorf("load file states: %w", err)
		}
	}
	marks := in.sift(paths, stats)
	for i, p := range paths {
		switch marks[i] {
		case fileUnchanged:
			res.FilesScanned++
			continue
		case fileFailed:
			if err := stats[i].err; !errors.Is(err, fs.ErrNotExist) {
				in.logger.Warn("skipping transcript", slog.String("path", p), slog.Any("error", err))
			}
			continue
		case fileIrregular:
			// A symlink to a FIFO or a device: reading it would block or
			// never end (see openRegular).
			in.logger.Warn("skipping transcript", slog.String("path", p),
				slog.String("error", "not a regular file ("+stats[i].fi.Mode().Type().String()+")"))
			continue
		}
		res.FilesScanned++
		fi := stats[i].fi
		prev, known := in.states[p]
		from, _ := resumeOffset(prev, known, fi)
		jobs = append(jobs, job{src: in.source(p), prev: prev, known: known, total: fi.Size() - from})
		total += fi.Size() - from
	}
	if in.opts.Progress != nil && len(jobs) > 0 {
		// Before any buffer is allocated: a caller may tune memory to
		// the size of the run (see cmd/ctm's lazyGC).
		in.opts.Progress(0, total)
	}
	// Big files first, so that two workers finish together.
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(b.total, a.total) })

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan job)
	pieces := make(chan piece, 2*in.opts.Workers)
	free := make(chan []usage.Record, 4*in.opts.Workers)
	var wg sync.WaitGroup
	for range in.opts.Workers {
		wg.Go(func() {
			r := newFileReader(in.opts, in.logger, free)
			for j := range work {
				r.read(ctx, j, pieces)
			}
		})
	}
	go func() {
		defer close(work)
		for _, j := range jobs {
			select {
			case work <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(pieces)
	}()

	// A separate goroutine applies full batches while this one fills the
	// next: the store's write and the parsing then overlap instead of the
	// workers stalling behind each Apply. pending is unbuffered and there
	// are two batches, so at most one is being applied while the other
	// fills, and batches are applied in the order they were filled. spare
	// holds both batches when the applier returns the last one, so that
	// send never blocks.
	pending := make(chan *batch)
	spare := make(chan *batch, 2)
	limits := in.batchLimits(total)
	var (
		applyErr error
		written  int64
	)
	// A first index goes to the sink in one bulk transaction when the
	// sink can take one; its file states count only once it commits.
	var (
		bulk      usage.BulkWriter
		bulkFiles []usage.FileState
	)
	if bs, ok := in.sink.(BulkSink); ok && limits.capacity > 0 {
		var err error
		if bulk, err = bs.BeginBulk(ctx); err != nil {
			// Apply still works, only slower.
			in.logger.Warn("bulk write unavailable", slog.Any("error", err))
			bulk = nil
		}
	}
	apply := in.sink.Apply
	if bulk != nil {
		apply = bulk.Apply
		limits = in.bulkLimits(limits)
	}
	spare <- newBatch(limits.capacity)
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for b := range pending {
			if applyErr == nil {
				var n int64
				var err error
				if bulk != nil {
					var files []usage.FileState
					n, files, err = in.write(ctx, apply, b)
					bulkFiles = append(bulkFiles, files...)
				} else {
					n, err = in.flush(ctx, b)
				}
				written += n
				if err != nil {
					applyErr = err
					cancel() // stops the workers; the loop below drains
				}
			}
			b.reset()
			spare <- b
		}
	}()

	b := newBatch(limits.capacity)
	var done int64
	for p := range pieces {
		if ctx.Err() != nil {
			continue // drain so the workers can exit
		}
		done += p.bytes
		res.BytesRead += p.bytes
		res.Records += int64(len(p.records))
		res.BadLines += p.bad
		res.BadValues += p.badValues
		if p.first {
			res.FilesChanged++
		}
		b.add(p)
		if cap(p.records) > 0 {
			select {
			case free <- p.records: // copied into b; the worker may reuse it
			default:
			}
		}
		if len(b.records)+len(b.prompts) >= limits.records || len(b.files) >= limits.files {
			if bulk == nil {
				b.sort()
			}
			pending <- b
			b = <-spare
		}
		if in.opts.Progress != nil {
			in.opts.Progress(done, total)
		}
	}
	// A cancelled run stops short; what was applied is consistent.
	if ctx.Err() == nil {
		if bulk == nil {
			b.sort()
		}
		pending <- b
	}
	close(pending)
	<-applied
	res.Written = written
	if applyErr == nil {
		applyErr = ctx.Err()
	}
	if bulk != nil {
		if applyErr == nil {
			if applyErr = bulk.Commit(ctx); applyErr == nil {
				for _, f := range bulkFiles {
					in.states[f.Path] = f
				}
			}
		} else {
			bulk.Rollback()
		}
		if applyErr != nil {
			res.Written = 0
		}
	}
	res.Duration = time.Since(start)
	if applyErr != nil {
		return res, fmt.Errorf("ingest: %w", applyErr)
	}
	in.logger.Debug("ingest done", slog.Int("files_scanned", res.FilesScanned),
		slog.Int("files_changed", res.FilesChanged), slog.Int64("records", res.Records),
		slog.Int64("bad_lines", res.BadLines), slog.Int64("bad_values", res.BadValues), slog.Int64("bytes_read", res.BytesRead),
		slog.Duration("duration", res.Duration))
	return res, nil
}

// statted is the result of one os.Stat.
type statted struct {
	fi  fs.FileInfo
	err error
}

// statGoroutines stat a long list of paths at once: a catch-up of an
// unchanged tree is mostly one stat per transcript (13k at 2 GB), each a
// system call that waits on the kernel's path walk, and the calls of two
// or more goroutines overlap even on few cores.
const (
	statGoroutines = 4
	statChunk      = 256
)

// statAll returns os.Stat of each path, in order.
func statAll(paths []string) []statted {
	out := make([]statted, len(paths))
	inParallel(len(paths), func(lo, hi int) { statRange(paths[lo:hi], out[lo:hi]) })
	return out
}

// inParallel calls fn for [0, n) in chunks of statChunk, on
// statGoroutines goroutines when n is worth it. Goroutines take chunks
// in turn, so that one slow directory does not leave the others idle.
func inParallel(n int, fn func(lo, hi int)) {
	if n < 2*statChunk {
		fn(0, n)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range statGoroutines {
		wg.Go(func() {
			for {
				lo := int(next.Add(statChunk)) - statChunk
				if lo >= n {
					return
				}
				fn(lo, min(lo+statChunk, n))
			}
		})
	}
	wg.Wait()
}

// What sift found of each transcript.
const (
	fileChanged   uint8 = iota // new, grown, replaced: read it
	fileUnchanged              // as its state says: skip it
	fileFailed                 // its stat failed
	fileIrregular              // not a regular file
)

// sift compares each file's stat with its state. Each comparison is a
// lookup of a long path in a map of every state, most of them cache
// misses: 13k at 2 GB took 1.4 to 5.9 ms of a report after a small
// append, so a long list is split between goroutines, which only mark
// the paths; the caller then lists the files to read, in order.
func (in *Ingester) sift(paths []string, stats []statted) []uint8 {
	marks := make([]uint8, len(paths))
	inParallel(len(paths), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			fi := stats[i].fi
			switch {
			case stats[i].err != nil:
				marks[i] = fileFailed
				continue
			case !fi.Mode().IsRegular():
				marks[i] = fileIrregular
				continue
			}
			prev, known := in.states[paths[i]]
			if from, _ := resumeOffset(prev, known, fi); known && from == prev.Offset && fi.Size() == prev.Size && fi.ModTime().Equal(prev.ModTime) {
				marks[i] = fileUnchanged
			}
		}
	})
	return marks
}

// flush applies the batch and, once it is stored, remembers its file
// states. It returns how many records it wrote.
func (in *Ingester) flush(ctx context.Context, b *batch) (int64, error) {
	n, files, err := in.write(ctx, in.sink.Apply, b)
	if err != nil {
		return 0, err
	}
	for _, f := range files {
		in.states[f.Path] = f
	}
	return n, nil
}

// write applies the batch with apply and returns how many records it
// wrote and the file states it stored.
func (in *Ingester) write(ctx context.Context, apply func(context.Context, usage.Batch) error, b *batch) (int64, []usage.FileState, error) {
	if len(b.records) == 0 && len(b.prompts) == 0 && len(b.files) == 0 {
		return 0, nil, nil
	}
	files := slices.SortedFunc(maps.Values(b.files), func(x, y usage.FileState) int { return cmp.Compare(x.Path, y.Path) })
	if err := apply(ctx, usage.Batch{Records: b.records, Prompts: b.prompts, Files: files}); err != nil {
		return 0, nil, fmt.Errorf("apply batch of %d records: %w", len(b.records), err)
	}
	return int64(len(b.records)), files, nil
}

// limits bound one batch.
type limits struct {
	records, files int
	// capacity, when set, preallocates each batch's record array: a
	// batch stops growing at most one piece past its record limit.
	capacity int
}

// Defaults of a bulk run, one that reads more than bulkBytes (a first
// index, or a catch-up after a long pause). Every Apply rewrites the pages
// of the random-order key index that it touches, and even 1,000 records
// touch most of them, so a batch must be big to be cheap per record. The
// file limit, which keeps live catch-ups short, made the last batches of
// a 600 MB first index carry 500 small files and under 1,000 records each:
// 13 transactions instead of 8, the small ones nearly as slow as the big
// ones. Batches of 6,000 records, two in memory at once (one filling, one
// being applied), were as fast as 8,000 or 30,000 on that index (its wall
// time is set by the writer, which the sorted, overlapped batches keep
// busy), and peak RSS grew with the size: about 72, 78 and 120 MB.
const (
	bulkBytes        = 64 << 20
	bulkBatchRecords = 6_000
	bulkBatchFiles   = 1 << 30
)

// bulkWriteRecords is the record limit of a batch written through a
// BulkWriter. A Bulk touches no index until its commit, so big batches
// buy it nothing (see bulkBatchRecords), while the two batches in memory
// weigh on its peak: on 512 MB of long sessions, 1,000 records instead of
// 6,000 cut peak RSS by about 5 MB at the same CPU time.
const bulkWriteRecords = 1_000

// bulkLimits returns l for a run written through a BulkWriter: the
// smaller batches of bulkWriteRecords unless the options set a limit.
func (in *Ingester) bulkLimits(l limits) limits {
	if in.raw.BatchRecords <= 0 && l.capacity > 0 {
		l.records = bulkWriteRecords
		l.capacity = l.records + pieceRecords
	}
	return l
}

// batchLimits returns the batch bounds of a run reading total bytes:
// the options, or when they were left at their defaults and the run is
// a bulk one, the bulk bounds.
func (in *Ingester) batchLimits(total int64) limits {
	l := limits{records: in.opts.BatchRecords, files: in.opts.BatchFiles}
	if total > in.bulkBytes {
		if in.raw.BatchRecords <= 0 {
			l.records = bulkBatchRecords
		}
		if in.raw.BatchFiles <= 0 {
			l.files = bulkBatchFiles
		}
		// Preallocating spares the copies of append's doublings and
		// the up to half-empty array they leave, which is worth it only
		// when the batches will fill.
		l.capacity = l.records + pieceRecords
	}
	return l
}

// batch gathers pieces until they are worth one Apply. Copies of one
// response are merged on the way with Record.Prefer, as the store would.
type batch struct {
	records []usage.Record
	prompts []usage.Prompt
	index   map[string]int
	files   map[string]usage.FileState
}

// newBatch returns an empty batch whose record array, when capacity is
// set, is allocated once at that size and reused from batch to batch.
func newBatch(capacity int) *batch {
	b := &batch{index: map[string]int{}, files: map[string]usage.FileState{}}
	if capacity > 0 {
		b.records = make([]usage.Record, 0, capacity)
	}
	return b
}

func (b *batch) add(p piece) {
	for i := range p.records {
		r := &p.records[i]
		if at, ok := b.index[r.Key]; ok {
			if r.Prefer(&b.records[at]) {
				b.records[at] = *r
			}
			continue
		}
		b.index[r.Key] = len(b.records)
		b.records = append(b.records, *r)
	}
	b.prompts = append(b.prompts, p.prompts...)
	if p.state != nil {
		b.files[p.state.Path] = *p.state
	}
}

// sort puts the records in key order: the store then walks its unique
// key index from one end to the other instead of jumping to a random page
// for every record, so each index page is read and dirtied once per
// batch. It runs here, on the goroutine that fills batches, because the
// one that applies them is the bottleneck of a large ingest.
func (b *batch) sort() {
	slices.SortFunc(b.records, func(x, y usage.Record) int { return cmp.Compare(x.Key, y.Key) })
}

func (b *batch) reset() {
	// Sinks do not keep a batch after Apply returns (see Sink), so the
	// array can be refilled; zeroing it drops the strings it holds.
	clear(b.records)
	b.records = b.records[:0]
	clear(b.prompts)
	b.prompts = b.prompts[:0]
	clear(b.index)
	clear(b.files)
}
