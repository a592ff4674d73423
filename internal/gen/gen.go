// Package gen writes realistic, deterministic Claude Code data directories
// for tests and benchmarks. The generated transcripts copy the shapes of
// real Claude Code files (streamed per-block assistant copies, subagents in
// every layout, agent_progress copies, resumed sessions, <synthetic> error
// lines, torn tails) and the manifest records the exact accounting of what
// was written.
package gen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Config controls Generate. Zero fields take the defaults documented on
// each field.
type Config struct {
	// Dir is the output directory; transcripts go to Dir/projects. It must
	// not already contain a projects directory.
	Dir string
	// Size is the total size of the transcript files to write, in bytes.
	Size int64
	// Seed selects the data set; the same Config always writes the same bytes.
	Seed uint64
	// End is the end of the time window (default 2026-03-01T00:00:00Z, fixed
	// so that output does not depend on the clock).
	End time.Time
	// Days is the length of the time window (default 60).
	Days int
	// Projects is the number of projects (default 30).
	Projects int
	// Shape lays out sessions: ShapeDefault ("" too) or ShapeLong.
	Shape string
	// Billing writes the models and usage fields of 2026, chosen by each
	// session's date, so that the data exercises every billing rule of the
	// price table: fast mode, data residency, batch, the Haiku 5.5 prompt
	// tier, long context before and after 2026-03-13, the Sonnet 5.5 cache
	// read change of 2026-10-07, gateway-zeroed cache_creation objects and
	// web fetches. Its window defaults to 2026 (End DefaultBillingEnd, Days
	// 334) instead of the default one.
	Billing bool
}

// Shapes accepted in Config.Shape.
const (
	// ShapeDefault is sessions of a few KB to a few MB, dense in time,
	// with many subagent files: about 7 files and 105 responses per MB.
	ShapeDefault = "default"
	// ShapeLong is long sessions spread over many hours in few, large
	// files: about 2 files and 148 responses per MB, and about 2 responses
	// per session, model and quarter hour instead of about 10. It is the
	// shape of a user who leaves one session open all day.
	ShapeLong = "long"
)

// DefaultEnd is the default end of the generated time window.
var DefaultEnd = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// DefaultBillingEnd is the default end of the window of Config.Billing;
// with its 334 days the window is 2026-01-01 to 2026-12-01, across both
// dated price changes.
var DefaultBillingEnd = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// billingDays is the default window length of Config.Billing.
const billingDays = 334

const (
	// poolSize is the filler pool size; it bounds the largest tool result.
	poolSize = 2 << 20
	// minSize keeps tiny requests meaningful: one session of a few turns.
	minSize = 64 << 10
	// maxBigResult is the largest tool result line payload.
	maxBigResult = 1536 << 10
	// writeBuffer is the bufio buffer per open file; a few are open at once.
	writeBuffer = 256 << 10
)

// Generate writes a Claude Code data directory as described by cfg and
// returns (and writes to Dir/.ctm-gen.json) the manifest of what it wrote.
// It stops early, returning ctx.Err(), when ctx is cancelled.
func Generate(ctx context.Context, cfg Config) (*Manifest, error) {
	if cfg.Dir == "" {
		return nil, usage.Errorf(usage.EINVALID, "output directory is required")
	}
	if cfg.Size < minSize {
		return nil, usage.Errorf(usage.EINVALID, "size %d is below the minimum of %d bytes", cfg.Size, minSize)
	}
	if cfg.Days < 0 || cfg.Projects < 0 {
		return nil, usage.Errorf(usage.EINVALID, "days and projects must not be negative")
	}
	switch cfg.Shape {
	case "", ShapeDefault:
		cfg.Shape = ShapeDefault
	case ShapeLong:
	default:
		return nil, usage.Errorf(usage.EINVALID, "unknown shape %q: want %q or %q", cfg.Shape, ShapeDefault, ShapeLong)
	}
	if cfg.End.IsZero() {
		cfg.End = DefaultEnd
		if cfg.Billing {
			cfg.End = DefaultBillingEnd
		}
	}
	if cfg.Days == 0 {
		cfg.Days = 60
		if cfg.Billing {
			cfg.Days = billingDays
		}
	}
	if cfg.Projects == 0 {
		cfg.Projects = 30
	}
	projects := filepath.Join(cfg.Dir, "projects")
	if _, err := os.Stat(projects); err == nil {
		return nil, usage.Errorf(usage.ECONFLICT, "%s already exists; generate into an empty directory", projects)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("check output directory: %w", err)
	}
	if err := os.MkdirAll(projects, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}

	g := newGenerator(cfg)
	if err := g.run(ctx); err != nil {
		g.closeAll()
		return nil, err
	}
	if err := g.man.write(cfg.Dir); err != nil {
		return nil, err
	}
	return g.man, nil
}

// ParseSize parses a size such as "600MB", "1.5GB", "512KB" or "1048576".
// Units are binary: KB = 1024 bytes, MB = 1024 KB, GB = 1024 MB (KiB, MiB,
// GiB and K, M, G are accepted too).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10},
		{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
		{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
	} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<50 {
		return 0, usage.Errorf(usage.EINVALID, "invalid size %q: want a positive number with an optional KB, MB or GB unit", s)
	}
	return int64(f * float64(mult)), nil
}

// Knobs of ShapeLong, tuned so that its data has about 2 files and 148
// distinct responses per MB.
const (
	longSessionMin, longSessionMax = 640 << 10, 2 << 20
	longTurnResponses              = 8
	longToolResult                 = 9 << 10
	// longTaskOdds makes one tool call in longTaskOdds a subagent, against
	// one in 12 in the default shape: subagent files are what make the
	// default shape's files many and small.
	longTaskOdds = 150
)

// taskOdds returns n such that one tool call in n starts a subagent.
func (g *generator) taskOdds() int {
	if g.long {
		return longTaskOdds
	}
	return 12
}

// generator holds the state of one Generate call. Everything random comes
// from one PCG stream consumed in a fixed order, which is what makes the
// output a function of the seed.
type generator struct {
	cfg      Config
	rng      *rand.Rand
	pool     *textPool
	man      *Manifest
	start    time.Time
	written  int64
	projects []*project
	// lastProject is the index of the project whose resume prefix was
	// captured last.
	lastProject int
	open        []*output
	err         error
	// eraBounds splits the window into the Claude Code eras.
	eraBounds []float64
	long      bool
}

func newGenerator(cfg Config) *generator {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	g := &generator{
		cfg:   cfg,
		rng:   rng,
		pool:  newTextPool(rng, poolSize),
		start: cfg.End.AddDate(0, 0, -cfg.Days),
		man: &Manifest{
			Seed:          cfg.Seed,
			TargetBytes:   cfg.Size,
			Shape:         cfg.Shape,
			Billing:       cfg.Billing,
			Models:        map[string]ModelTotals{},
			Days:          map[string]ModelTotals{},
			BillingShapes: map[string]int64{},
			LineTypes:     map[string]int64{},
			Layouts:       map[string]int{},
		},
		eraBounds: eraBounds,
		long:      cfg.Shape == ShapeLong,
	}
	if cfg.Billing {
		g.eraBounds = billingEraBounds
	}
	g.man.Start, g.man.End = g.start, cfg.End
	g.projects = g.newProjects(cfg.Projects)
	g.man.Projects = len(g.projects)
	return g
}

// remaining returns how many bytes are still wanted.
func (g *generator) remaining() int64 { return g.cfg.Size - g.written }

// full reports whether the requested size has been written.
func (g *generator) full() bool { return g.written >= g.cfg.Size }

func (g *generator) run(ctx context.Context) error {
	for i := 0; !g.full(); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		g.session(i)
		if g.err != nil {
			return g.err
		}
	}
	g.closeAll()
	if g.err != nil {
		return g.err
	}
	for _, f := range g.man.FileList {
		g.man.Bytes += f.Bytes
		g.man.Lines += f.Lines
	}
	g.man.Files = len(g.man.FileList)
	for kind, n := range g.man.LineTypes {
		switch kind {
		case lineAssistant, lineSynthetic, lineAgentProgressAssistant:
			g.man.UsageLines += n
		}
	}
	g.man.SyntheticLines = g.man.LineTypes[lineSynthetic]
	return nil
}

// output is one transcript file being written.
type output struct {
	g     *generator
	entry int // index into g.man.FileList
	f     *os.File
	w     *bufio.Writer
	// capture, when non-nil, collects the first complete lines of a
	// session so that a later session can resume from it.
	capture *resumePrefix
	closed  bool
}

// create opens projects/rel under the output directory for writing.
func (g *generator) create(rel, kind string) *output {
	rel = "projects/" + rel
	o := &output{g: g, entry: len(g.man.FileList)}
	g.man.FileList = append(g.man.FileList, FileEntry{Path: rel, Kind: kind})
	g.man.Layouts[kind]++
	path := filepath.Join(g.cfg.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		g.fail(fmt.Errorf("create %s: %w", rel, err))
		o.closed = true
		return o
	}
	f, err := os.Create(path)
	if err != nil {
		g.fail(fmt.Errorf("create %s: %w", rel, err))
		o.closed = true
		return o
	}
	o.f, o.w = f, bufio.NewWriterSize(f, writeBuffer)
	g.open = append(g.open, o)
	return o
}

func (g *generator) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// line writes b and a newline, counting it under kind.
func (o *output) line(b []byte, kind string) {
	if o.closed {
		return
	}
	o.w.Write(b) // errors are sticky in bufio.Writer and surface at Flush
	o.w.WriteByte('\n')
	e := &o.g.man.FileList[o.entry]
	e.Bytes += int64(len(b)) + 1
	e.Lines++
	o.g.written += int64(len(b)) + 1
	o.g.man.LineTypes[kind]++
	if o.capture != nil {
		o.capture.add(b, kind)
	}
}

// tail writes b without a newline: an incomplete last line, as left by a
// Claude Code process that was still writing.
func (o *output) tail(b []byte) {
	if o.closed {
		return
	}
	o.w.Write(b)
	e := &o.g.man.FileList[o.entry]
	e.Bytes += int64(len(b))
	e.Lines++
	e.Torn = true
	o.g.written += int64(len(b))
	o.g.man.TornLines++
	o.g.man.LineTypes[lineTorn]++
}

func (o *output) close() {
	if o.closed {
		return
	}
	o.closed = true
	rel := o.g.man.FileList[o.entry].Path
	if err := o.w.Flush(); err != nil {
		o.g.fail(fmt.Errorf("write %s: %w", rel, err))
	}
	if err := o.f.Close(); err != nil {
		o.g.fail(fmt.Errorf("close %s: %w", rel, err))
	}
	for i, p := range o.g.open {
		if p == o {
			o.g.open = append(o.g.open[:i], o.g.open[i+1:]...)
			break
		}
	}
}

func (g *generator) closeAll() {
	for len(g.open) > 0 {
		g.open[len(g.open)-1].close()
	}
}

// resumePrefix holds the first turns of a session, replayed verbatim at the
// start of a later session in the same project, as `claude --resume` does.
// Only whole turns are kept, so a replayed response carries all its copies
// and its final output count.
type resumePrefix struct {
	max   int
	size  int
	lines [][]byte
	kinds []string
	// kept is the number of lines that form whole turns.
	kept int
	done bool
}

func (p *resumePrefix) add(b []byte, kind string) {
	if p.done || p.size+len(b) > p.max {
		p.done = true
		return
	}
	p.lines = append(p.lines, append([]byte(nil), b...))
	p.kinds = append(p.kinds, kind)
	p.size += len(b)
}

// endTurn marks the lines added so far as whole turns.
func (p *resumePrefix) endTurn() {
	if !p.done {
		p.kept = len(p.lines)
	}
}

// response is one API response; its copies may be written to several files.
type response struct {
	model     string
	messageID string
	requestID string
	tokens    usage.Tokens // Output is the final count
	// written is the largest output_tokens among the copies written so far,
	// -1 when none was written; at is the timestamp of the earliest copy
	// with that count, the copy a correct reader keeps.
	written int64
	at      time.Time
	// fast and batch are written as usage.speed "fast" and
	// usage.service_tier "batch".
	fast, batch bool
}

// keep records that a copy with out output tokens was written at t.
func (r *response) keep(out int64, t time.Time) {
	if out > r.written {
		r.written, r.at = out, t
	}
}

// longPrompt is the prompt size above which the long-context tiers of the
// price table bill a request; the manifest counts such responses so that
// tests can see the generator makes them.
const longPrompt = 200_000

// haikuPrompt is the prompt size above which Haiku 5.5 bills a request at
// its higher tier.
const haikuPrompt = 100_000

// longContextEnd is the day the long-context premium of Opus 4.6 and
// Sonnet 4.6 ended; sonnet55CacheCut the day Sonnet 5.5's cache reads got
// cheaper.
var (
	longContextEnd   = time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC)
	sonnet55CacheCut = time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC)
)

// account adds a finished response to the manifest totals, counting the
// copy a correct reader keeps: the one with the largest output.
func (g *generator) account(r *response, s *session) {
	if r.written < 0 {
		return
	}
	t := r.tokens
	t.Output = r.written
	g.man.UniqueResponses++
	g.man.Totals = g.man.Totals.Add(t)
	m := g.man.Models[r.model]
	m.Entries++
	m.Tokens = m.Tokens.Add(t)
	g.man.Models[r.model] = m
	day := r.at.UTC().Format(time.DateOnly)
	d := g.man.Days[day]
	d.Entries++
	d.Tokens = d.Tokens.Add(t)
	g.man.Days[day] = d
	if t.Prompt() > longPrompt {
		g.man.LongContextResponses++
	}
	for _, shape := range billingShapes(r, s, t) {
		g.man.BillingShapes[shape]++
	}
}

// billingShapes lists the Billing* counters that the kept copy of r, with
// tokens t, adds to.
func billingShapes(r *response, s *session, t usage.Tokens) []string {
	var out []string
	add := func(ok bool, shape string) {
		if ok {
			out = append(out, shape)
		}
	}
	add(r.fast, BillingFast)
	add(r.batch, BillingBatch)
	if s.era == era21x {
		add(s.geo == "us", BillingGeoUS)
		add(s.geo == "global", BillingGeoGlobal)
		add(s.geo == "not_available", BillingGeoNotAvailable)
	}
	add(s.gateway && t.CacheCreation() > 0 && !s.noCacheObject, BillingGatewayZeros)
	add(t.WebFetchRequests > 0, BillingWebFetch)
	near := func(p, limit int64) (below, above bool) {
		return p > limit*9/10 && p <= limit, p > limit && p <= limit*11/10
	}
	p := t.Prompt()
	if strings.HasPrefix(r.model, modelHaiku55) {
		below, above := near(p, haikuPrompt)
		add(below, BillingHaikuBelow)
		add(above, BillingHaikuAbove)
	}
	// Sonnet 4.5 always has the long-context tier; Opus 4.6 and Sonnet 4.6
	// until longContextEnd, after which their long prompts are billed at
	// the standard price.
	tiered := strings.HasPrefix(r.model, "claude-sonnet-4-5")
	if strings.HasPrefix(r.model, modelOpus46) || strings.HasPrefix(r.model, modelSonnet46) {
		tiered = r.at.Before(longContextEnd)
		add(!tiered && p > longPrompt, BillingLongContextEnded)
	}
	if tiered {
		below, above := near(p, longPrompt)
		add(below, BillingLongBelow)
		add(above, BillingLongAbove)
	}
	if strings.HasPrefix(r.model, modelSonnet55) {
		add(r.at.Before(sonnet55CacheCut), BillingSonnet55Before)
		add(!r.at.Before(sonnet55CacheCut), BillingSonnet55After)
	}
	return out
}
