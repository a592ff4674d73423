package gen

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Line kinds counted in Manifest.LineTypes.
const (
	lineUser                   = "user"
	lineAssistant              = "assistant"
	lineSynthetic              = "assistant:<synthetic>"
	lineAgentProgressAssistant = "progress:agent_progress"
	lineAgentProgressUser      = "progress:agent_progress:user"
	lineHookProgress           = "progress:hook_progress"
	lineBashProgress           = "progress:bash_progress"
	lineSummary                = "summary"
	lineSystem                 = "system"
	lineTurnDuration           = "system:turn_duration"
	lineStopHook               = "system:stop_hook_summary"
	lineAPIError               = "system:api_error"
	lineCompactBoundary        = "system:compact_boundary"
	lineFileHistory            = "file-history-snapshot"
	lineQueueOperation         = "queue-operation"
	lineTorn                   = "torn"
)

// Models written by the generator.
const (
	modelOpus45   = "claude-opus-4-5-20251101"
	modelOpus46   = "claude-opus-4-6"
	modelSonnet45 = "claude-sonnet-4-5-20250929"
	modelHaiku45  = "claude-haiku-4-5-20251001"
	modelSynth    = "<synthetic>"
)

// Models of 2026 written with Config.Billing, undated; sessions sometimes
// use the dated ids of datedModels instead.
const (
	modelOpus47   = "claude-opus-4-7"
	modelOpus48   = "claude-opus-4-8"
	modelOpus5    = "claude-opus-5"
	modelOpus55   = "claude-opus-5-5"
	modelSonnet46 = "claude-sonnet-4-6"
	modelSonnet55 = "claude-sonnet-5-5"
	modelHaiku55  = "claude-haiku-5-5"
	modelFable52  = "claude-fable-5-2"
)

var datedModels = map[string]string{
	modelOpus5:    "claude-opus-5-20260915",
	modelOpus55:   "claude-opus-5-5-20261007",
	modelSonnet55: "claude-sonnet-5-5-20260805",
	modelHaiku55:  "claude-haiku-5-5-20260805",
	modelFable52:  "claude-fable-5-2-20261110",
}

// modelShare is a model and its share, in percent, of main sessions.
type modelShare struct {
	model string
	pct   int
}

// modelTimeline gives, from each date on, the models of Config.Billing
// data: the main sessions' mix and the models subagents run on. The dates
// are releases and the two price changes, so that every model is used
// before and after the changes that concern it.
var modelTimeline = []struct {
	from          time.Time
	main          []modelShare
	haiku, sonnet string
}{
	{time.Time{}, []modelShare{{modelOpus46, 45}, {modelSonnet46, 20}, {modelOpus45, 10}, {modelSonnet45, 10}, {modelHaiku45, 15}}, modelHaiku45, modelSonnet45},
	{longContextEnd, []modelShare{{modelOpus46, 35}, {modelSonnet46, 30}, {modelOpus47, 15}, {modelHaiku45, 20}}, modelHaiku45, modelSonnet46},
	{day(2026, 6, 10), []modelShare{{modelOpus48, 45}, {modelOpus46, 10}, {modelSonnet46, 30}, {modelHaiku45, 15}}, modelHaiku45, modelSonnet46},
	{day(2026, 8, 5), []modelShare{{modelOpus48, 40}, {modelSonnet55, 35}, {modelHaiku55, 15}, {modelSonnet46, 10}}, modelHaiku55, modelSonnet55},
	{day(2026, 9, 15), []modelShare{{modelOpus5, 45}, {modelOpus48, 10}, {modelSonnet55, 30}, {modelHaiku55, 15}}, modelHaiku55, modelSonnet55},
	{sonnet55CacheCut, []modelShare{{modelOpus55, 40}, {modelOpus5, 15}, {modelSonnet55, 30}, {modelHaiku55, 15}}, modelHaiku55, modelSonnet55},
	{day(2026, 11, 10), []modelShare{{modelOpus55, 35}, {modelFable52, 15}, {modelOpus5, 10}, {modelSonnet55, 25}, {modelHaiku55, 15}}, modelHaiku55, modelSonnet55},
}

// scripted is a session of billingScript: when it starts, on which model,
// and the shapes it must show.
type scripted struct {
	at    time.Time
	model string
	// long starts the context just under 200k, nearHaikuTier just under
	// Haiku 5.5's 100k tier.
	long, nearHaikuTier  bool
	fast, gateway, dated bool
	geo                  string
}

// billingScript puts one session on each side of each price boundary and
// one on each billed usage field.
var billingScript = []scripted{
	{at: day(2026, 3, 2).Add(9 * time.Hour), model: modelOpus46, long: true, geo: "us"},
	{at: day(2026, 4, 14).Add(14 * time.Hour), model: modelSonnet46, long: true},
	{at: day(2026, 7, 1).Add(8 * time.Hour), model: modelOpus48, fast: true, geo: "us"},
	{at: day(2026, 8, 20).Add(10 * time.Hour), model: modelHaiku55, nearHaikuTier: true, dated: true},
	{at: day(2026, 9, 21).Add(16 * time.Hour), model: modelSonnet55, gateway: true, geo: "global"},
	{at: day(2026, 9, 28).Add(11 * time.Hour), model: modelOpus5, fast: true, dated: true, geo: "not_available"},
	{at: day(2026, 10, 19).Add(13 * time.Hour), model: modelSonnet55, dated: true},
	{at: day(2026, 10, 26).Add(9 * time.Hour), model: modelOpus55, fast: true, geo: "global"},
	{at: day(2026, 11, 16).Add(15 * time.Hour), model: modelFable52, gateway: true},
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// timelineAt returns the index of the modelTimeline entry in force at t.
func timelineAt(t time.Time) int {
	i := 0
	for i+1 < len(modelTimeline) && !t.Before(modelTimeline[i+1].from) {
		i++
	}
	return i
}

// fastModel reports whether model offers fast mode at 2x, the only fast
// mode the generator writes.
func fastModel(model string) bool {
	return strings.HasPrefix(model, modelOpus48) || strings.HasPrefix(model, modelOpus5)
}

// Claude Code eras, which decide the layout of subagents and usage fields.
const (
	era1x  = 1 // 1.0.x: inline sidechains, cache_creation object sometimes absent
	era20  = 2 // 2.0.x: projects/<p>/agent-<id>.jsonl
	era21x = 3 // 2.1.x: <session>/subagents/, agent_progress copies, 1h cache writes
)

var versions = [4][]string{
	era1x:  {"1.0.80", "1.0.98", "1.0.113"},
	era20:  {"2.0.14", "2.0.42", "2.0.76"},
	era21x: {"2.1.7", "2.1.31", "2.1.39", "2.1.44", "2.1.50"},
}

// eraBounds splits the time window into the three eras, oldest first.
var eraBounds = []float64{0, 0.15, 0.45, 1}

// billingEraBounds puts most of a Config.Billing year in 2.1.x, the
// versions that write speed and inference_geo, so that both price changes
// fall inside it.
var billingEraBounds = []float64{0, 0.05, 0.12, 1}

const tsLayout = "2006-01-02T15:04:05.000Z"

// session is one top-level Claude Code session.
type session struct {
	g       *generator
	p       *project
	index   int
	id      string
	era     int
	version string
	branch  string
	slug    string
	// noCacheObject drops usage.cache_creation, as some 1.x lines do.
	noCacheObject bool
	// cache1h is the probability that a response writes its cache for 1 hour.
	cache1h float64
	speed   bool
	// geo is usage.inference_geo in 2.1.x; gateway writes a cache_creation
	// object of zeros (as some gateways do) under the flat count; fast
	// makes some responses of fast-capable models fast; dated picks the
	// dated ids of the models of 2026.
	geo                  string
	gateway, fast, dated bool
}

// convo writes one conversation thread: the main session or a subagent.
type convo struct {
	s         *session
	out       *output // nil for a subagent seen only through progress copies
	sidechain bool
	agentID   string
	model     string
	now       time.Time
	parent    string // uuid of the previous line
	// ctx is the cached prompt size, pending the tokens added since the
	// last response; limit triggers a compaction.
	ctx, pending, limit int64
	mirror              *mirror
	// The force flags make the next prompt get a <synthetic> error, the
	// next tool call a subagent (seen only through progress copies in
	// 2.1.x), the next tool result a huge one and the next turn end with
	// an error system line (api_error in 2.0.x, a plain one in 1.x).
	forceSynthetic, forceTask, forceBig, forceAPIError bool
	turns                                              int
	buf                                                []byte
	msg                                                []byte
}

// mirror copies a subagent's lines into its parent as agent_progress lines.
type mirror struct {
	parent  *convo
	toolUse string
	agentID string
	prompt  []byte
	p       float64
	// must mirrors every response, for runs with no subagent file: the
	// progress copies are then the only ones.
	must bool
	took bool // the current response is being mirrored
}

type toolUse struct {
	id, name string
}

func (g *generator) session(i int) {
	r := g.rng
	p := g.pickProject()
	// The first three sessions are one of each era and force the rare
	// shapes (inline sidechain, huge tool result, resumed session), so
	// that even a small data set holds every layout.
	if i == 2 && g.projects[g.lastProject].resume != nil {
		p = g.projects[g.lastProject]
	}
	window := g.cfg.End.Sub(g.start)
	frac := r.Float64()
	bounds := g.eraBounds
	if i < len(bounds)-1 {
		frac = bounds[i] + frac*(bounds[i+1]-bounds[i])
	}
	// In billing data the sessions after the first three follow
	// billingScript, so that even a small data set holds every shape;
	// the later ones are drawn at random in realistic proportions.
	var sc *scripted
	if k := i - 3; g.cfg.Billing && k >= 0 && k < len(billingScript) {
		at := billingScript[k].at
		if !at.Before(g.start) && at.Before(g.cfg.End) {
			sc = &billingScript[k]
			frac = float64(at.Sub(g.start)) / float64(window)
		}
	}
	offset := time.Duration(frac * float64(window))
	s := &session{g: g, p: p, index: i, id: newUUID(r), branch: p.branch[r.IntN(len(p.branch))]}
	switch {
	case frac < bounds[1]:
		s.era = era1x
		s.noCacheObject = r.IntN(2) == 0 || i == 0
	case frac < bounds[2]:
		s.era = era20
	default:
		s.era = era21x
		if r.IntN(2) == 0 {
			s.cache1h = 0.9
		}
		s.speed = r.IntN(3) == 0
		s.geo = "not_available"
		if g.cfg.Billing {
			// Claude Code of 2026 writes speed on every response.
			s.speed, s.fast, s.dated = true, r.IntN(3) == 0, r.IntN(3) == 0
			s.gateway = r.IntN(12) == 0
			switch k := r.IntN(100); {
			case k < 20:
				s.geo = "us"
			case k < 60:
				s.geo = "global"
			}
		}
	}
	if sc != nil && s.era == era21x {
		s.fast, s.gateway, s.dated = sc.fast, sc.gateway, sc.dated
		if sc.geo != "" {
			s.geo = sc.geo
		}
	}
	s.version = versions[s.era][r.IntN(len(versions[s.era]))]
	if s.era >= era20 {
		s.slug = g.slug()
	}
	now := g.start.Add(offset)
	model := ""
	if g.cfg.Billing {
		model = g.billingModel(s, now)
		if sc != nil {
			model = s.modelID(sc.model)
		}
	} else {
		model = g.mainModel(s.era)
	}
	c := &convo{s: s, model: model, now: now, limit: 140_000 + r.Int64N(40_000)}
	c.ctx = 0
	c.pending = 12_000 + r.Int64N(8_000) // system prompt and tool definitions
	switch i {
	case 0:
		c.model = modelOpus45
	case 1:
		c.model = modelSonnet45
	case 2:
		c.model = modelOpus46
	}
	if c.model == modelSonnet45 && (i == 1 || r.IntN(3) == 0) ||
		g.cfg.Billing && c.model != modelSonnet45 && !strings.Contains(c.model, "haiku") && r.IntN(3) == 0 {
		// Long-context sessions: sonnet-4-5 bills prompts over 200k
		// tokens at long-context rates, so some must cross the line;
		// the 1M-context models of 2026 cross it too.
		c.pending = 150_000 + r.Int64N(45_000)
		c.limit = 420_000
	}
	if sc != nil && sc.long {
		c.pending = 175_000 + r.Int64N(15_000)
		c.limit = 420_000
	}
	if g.cfg.Billing && strings.HasPrefix(c.model, modelHaiku55) && r.IntN(2) == 0 {
		// Start near Haiku 5.5's 100k tier so that prompts land on both
		// sides of it before the first compaction.
		c.pending = 70_000 + r.Int64N(25_000)
	}
	if sc != nil && sc.nearHaikuTier {
		c.pending = 85_000 + r.Int64N(10_000)
	}

	target := logUniform(r, 6<<10, 4<<20)
	if g.long {
		target = logUniform(r, longSessionMin, longSessionMax)
	}
	if i < len(bounds)-1 {
		target = max(target, 512<<10) // room for the forced shapes
	}
	if sc != nil {
		target = max(target, 384<<10)
	}
	if rem := g.remaining(); target > rem {
		target = rem
	}
	c.out = g.create(p.folder+"/"+s.id+".jsonl", KindSession)
	g.man.Sessions++

	if s.era >= era20 && p.resume != nil && (i == 2 || r.IntN(10) == 0) {
		g.man.Layouts[LayoutResumed]++
		for k, line := range p.resume.lines[:p.resume.kept] {
			c.out.line(line, p.resume.kinds[k])
		}
	}
	if i == 1 || r.IntN(3) == 0 {
		c.out.capture = &resumePrefix{max: 512 << 10}
		g.lastProject = slices.Index(g.projects, p)
	}
	c.forceSynthetic, c.forceTask, c.forceBig, c.forceAPIError = i == 0, i == 0 || i == 2, i == 2, i < 2
	if i == 2 {
		c.limit = 40_000 // compact early: an agent-acompact-* file
	}
	c.preamble()
	// Replayed lines do not count toward the session's own size.
	for replayed := c.out.size(); c.out.size()-replayed < target && !g.full(); {
		c.turn()
		if c.out.capture != nil {
			c.out.capture.endTurn()
		}
	}
	if i == 0 || r.IntN(50) == 0 {
		c.torn()
	}
	if cp := c.out.capture; cp != nil && cp.kept > 0 {
		p.resume = cp
	}
	c.out.close()
}

func (o *output) size() int64 { return o.g.man.FileList[o.entry].Bytes }

// billingModel picks the main model of a Config.Billing session that
// starts at t.
func (g *generator) billingModel(s *session, t time.Time) string {
	k := g.rng.IntN(100)
	mix := modelTimeline[timelineAt(t)].main
	model := mix[len(mix)-1].model
	for _, m := range mix {
		if k < m.pct {
			model = m.model
			break
		}
		k -= m.pct
	}
	return s.modelID(model)
}

// modelID returns the id the session writes for model.
func (s *session) modelID(model string) string {
	if d, ok := datedModels[model]; ok && s.dated {
		return d
	}
	return model
}

func (g *generator) mainModel(era int) string {
	k := g.rng.IntN(100)
	switch era {
	case era1x:
		if k < 60 {
			return modelSonnet45
		}
		return modelOpus45
	case era20:
		switch {
		case k < 45:
			return modelOpus45
		case k < 85:
			return modelSonnet45
		}
		return modelHaiku45
	}
	switch {
	case k < 45:
		return modelOpus46
	case k < 65:
		return modelOpus45
	case k < 90:
		return modelSonnet45
	}
	return modelHaiku45
}

func (c *convo) rng() *rand.Rand { return c.s.g.rng }

// emit writes a line to the conversation's file, if it has one.
func (c *convo) emit(b []byte, kind string) {
	if c.out != nil {
		c.out.line(b, kind)
	}
}

// tick advances the clock by a random duration in [lo, hi).
func (c *convo) tick(lo, hi time.Duration) {
	c.now = c.now.Add(lo + time.Duration(c.rng().Int64N(int64(hi-lo))))
}

// head starts a line with the fields common to conversation lines.
func (c *convo) head(b []byte) []byte {
	s := c.s
	b = append(b, `{"parentUuid":`...)
	if c.parent == "" {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendQuote(b, c.parent)
	}
	b = append(b, `,"isSidechain":`...)
	b = strconv.AppendBool(b, c.sidechain)
	b = append(b, `,"userType":"external","cwd":"`...)
	b = append(b, s.p.cwd...)
	b = append(b, `","sessionId":"`...)
	b = append(b, s.id...)
	b = append(b, `","version":"`...)
	b = append(b, s.version...)
	b = append(b, `","gitBranch":"`...)
	b = append(b, s.branch...)
	b = append(b, '"')
	if c.agentID != "" {
		b = append(b, `,"agentId":"`...)
		b = append(b, c.agentID...)
		b = append(b, '"')
	}
	if s.slug != "" {
		b = append(b, `,"slug":"`...)
		b = append(b, s.slug...)
		b = append(b, '"')
	}
	return b
}

// idTime appends the uuid and timestamp fields, making the uuid the parent
// of the next line.
func (c *convo) idTime(b []byte, t time.Time) []byte {
	b = append(b, `,"uuid":"`...)
	start := len(b)
	b = appendUUID(b, c.rng())
	c.parent = string(b[start:])
	b = append(b, `","timestamp":"`...)
	b = t.UTC().AppendFormat(b, tsLayout)
	return append(b, '"')
}

func appendStr(b []byte, key string, val []byte) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = append(b, val...)
	return append(b, '"')
}

func appendInt(b []byte, key string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":`...)
	return strconv.AppendInt(b, v, 10)
}

// preamble writes the lines that open a session file.
func (c *convo) preamble() {
	r := c.rng()
	switch c.s.era {
	case era1x, era20:
		n := r.IntN(3)
		if c.s.index == 0 {
			n = max(n, 1)
		}
		for range n {
			c.summary()
		}
	case era21x:
		b := c.head(c.buf[:0])
		b = append(b, `,"type":"progress","data":{"type":"hook_progress","hookEvent":"SessionStart","hookName":"SessionStart:startup","command":"~/.claude/hooks/session-start.sh"},"parentToolUseID":"`...)
		id := newUUID(r)
		b = append(b, id...)
		b = append(b, `","toolUseID":"`...)
		b = append(b, id...)
		b = append(b, '"')
		b = c.idTime(b, c.now)
		c.buf = append(b, '}')
		c.emit(c.buf, lineHookProgress)
	}
}

func (c *convo) summary() {
	b := append(c.buf[:0], `{"type":"summary","summary":"`...)
	b = append(b, c.s.g.pool.text(c.rng(), 20+c.rng().IntN(50))...)
	b = append(b, `","leafUuid":"`...)
	b = appendUUID(b, c.rng())
	c.buf = append(b, `"}`...)
	c.emit(c.buf, lineSummary)
}

// turn writes one user prompt and the responses and tool calls it causes.
func (c *convo) turn() {
	g, r, s := c.s.g, c.rng(), c.s
	if g.long {
		// The user comes back to a session left open all day.
		c.tick(2*time.Minute, 75*time.Minute)
	} else {
		c.tick(5*time.Second, 20*time.Minute)
	}
	c.turns++
	if s.era == era21x && (r.IntN(10) == 0 || s.index < 3 && c.turns == 1) {
		c.queueOperation("enqueue")
		c.queueOperation("dequeue")
	}
	if s.era >= era20 && r.IntN(2) == 0 {
		c.fileHistory()
	}
	c.userPrompt(logUniform(r, 20, 3000))
	if r.IntN(60) == 0 || c.forceSynthetic {
		c.tick(time.Second, 30*time.Second)
		if c.synthetic() {
			return
		}
	}
	n := int(logUniform(r, 1, 30))
	if g.long {
		n = int(logUniform(r, 1, longTurnResponses))
	}
	for k := range n {
		for _, t := range c.respond(k == n-1) {
			if t.name == "Task" {
				c.subagent(t)
			} else {
				c.toolResult(t, r.IntN(700) == 0 || c.forceBig)
				c.forceBig = false
			}
		}
		if c.ctx > c.limit {
			c.compact()
		}
		if g.full() {
			break
		}
	}
	c.tick(100*time.Millisecond, 2*time.Second)
	switch {
	case s.era == era21x:
		b := c.head(c.buf[:0])
		b = append(b, `,"type":"system","subtype":"turn_duration"`...)
		b = appendInt(b, "durationMs", 1000+r.Int64N(300_000))
		b = c.idTime(b, c.now)
		c.buf = append(b, `,"isMeta":false}`...)
		c.emit(c.buf, lineTurnDuration)
	case s.era == era20 && (r.IntN(15) == 0 || c.forceAPIError):
		c.forceAPIError = false
		b := c.head(c.buf[:0])
		b = append(b, `,"type":"system","subtype":"api_error","level":"error","cause":{},"error":{"cause":{}},"retryInMs":547.3,"retryAttempt":1,"maxRetries":10`...)
		b = c.idTime(b, c.now)
		c.buf = append(b, '}')
		c.emit(c.buf, lineAPIError)
	case s.era == era20 && r.IntN(3) == 0:
		b := c.head(c.buf[:0])
		b = append(b, `,"type":"system","subtype":"stop_hook_summary","hookCount":1,"hookInfos":[{"command":"callback"}],"hookErrors":[],"preventedContinuation":false,"stopReason":"","hasOutput":false,"level":"suggestion"`...)
		b = c.idTime(b, c.now)
		c.buf = append(b, '}')
		c.emit(c.buf, lineStopHook)
	case s.era == era1x && (r.IntN(4) == 0 || c.forceAPIError):
		if r.IntN(2) == 0 && !c.forceAPIError {
			c.summary()
			break
		}
		b := c.head(c.buf[:0])
		c.forceAPIError = false
		b = append(b, `,"type":"system","content":"Previous query still processing. Please try again."`...)
		b = c.idTime(b, c.now)
		c.buf = append(b, `,"level":"warning"}`...)
		c.emit(c.buf, lineSystem)
	}
}

func (c *convo) queueOperation(op string) {
	b := append(c.buf[:0], `{"type":"queue-operation","operation":"`...)
	b = append(b, op...)
	b = append(b, `","timestamp":"`...)
	b = c.now.UTC().AppendFormat(b, tsLayout)
	b = append(b, `","sessionId":"`...)
	b = append(b, c.s.id...)
	b = append(b, '"')
	if op == "enqueue" {
		b = appendStr(b, "content", c.s.g.pool.text(c.rng(), 30+c.rng().IntN(200)))
	}
	c.buf = append(b, '}')
	c.emit(c.buf, lineQueueOperation)
}

func (c *convo) fileHistory() {
	id := newUUID(c.rng())
	b := append(c.buf[:0], `{"type":"file-history-snapshot","messageId":"`...)
	b = append(b, id...)
	b = append(b, `","snapshot":{"messageId":"`...)
	b = append(b, id...)
	b = append(b, `","trackedFileBackups":{},"timestamp":"`...)
	b = c.now.UTC().AppendFormat(b, tsLayout)
	c.buf = append(b, `"},"isSnapshotUpdate":false}`...)
	c.emit(c.buf, lineFileHistory)
}

func (c *convo) userPrompt(n int64) {
	text := c.s.g.pool.text(c.rng(), int(n))
	c.pending += int64(len(text))/4 + 5
	b := c.head(c.buf[:0])
	b = append(b, `,"type":"user","message":{"role":"user","content":"`...)
	b = append(b, text...)
	b = append(b, `"}`...)
	b = c.idTime(b, c.now)
	c.buf = append(b, '}')
	c.emit(c.buf, lineUser)
	if c.mirror != nil {
		c.mirror.user(c, text)
	}
}

var syntheticTexts = []struct {
	text, errCode string
	apiError      bool
	endsTurn      bool
}{
	{"API Error: Request timed out.", "", true, false},
	{"You have hit your limit - resets 7am (UTC)", "rate_limit", true, true},
	{"No response requested.", "", false, false},
	{"API Error: 529 Overloaded. Please try again later.", "overloaded", true, false},
}

// synthetic writes a <synthetic> error placeholder, which carries zero usage
// and no requestId. It reports whether the turn ends there.
func (c *convo) synthetic() bool {
	r := c.rng()
	st := syntheticTexts[r.IntN(len(syntheticTexts))]
	if c.forceSynthetic {
		c.forceSynthetic = false
		st = syntheticTexts[0] // the first session shows an API error
	}
	b := c.head(c.buf[:0])
	b = append(b, `,"type":"assistant"`...)
	b = c.idTime(b, c.now)
	b = append(b, `,"message":{"id":"`...)
	b = appendUUID(b, r)
	b = append(b, `","container":null,"model":"<synthetic>","role":"assistant","stop_reason":"stop_sequence","stop_sequence":"","type":"message","usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":null,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0}},"content":[{"type":"text","text":"`...)
	b = append(b, st.text...)
	b = append(b, `"}]}`...)
	if st.errCode != "" {
		b = appendStr(b, "error", []byte(st.errCode))
	}
	b = append(b, `,"isApiErrorMessage":`...)
	b = strconv.AppendBool(b, st.apiError)
	c.buf = append(b, '}')
	c.emit(c.buf, lineSynthetic)
	return st.endsTurn
}

// torn ends the file with the first half of an assistant line that was
// never completed; its response is not accounted.
func (c *convo) torn() {
	r := c.rng()
	resp := &response{model: c.model, messageID: randomID(r, "msg_01", 22), requestID: randomID(r, "req_011C", 16)}
	resp.tokens.Input, resp.tokens.CacheRead = 3, c.ctx
	resp.tokens.Output = 1 + r.Int64N(50)
	c.tick(time.Second, 10*time.Second)
	msg := c.message(c.msg[:0], resp, []byte(`{"type":"text","text":"`+string(c.s.g.pool.text(r, 200))+`"}`), resp.tokens.Output, false)
	b := c.head(c.buf[:0])
	b = append(b, `,"message":`...)
	b = append(b, msg...)
	b = append(b, `,"requestId":"`...)
	b = append(b, resp.requestID...)
	b = append(b, `","type":"assistant"`...)
	b = c.idTime(b, c.now)
	b = append(b, '}')
	c.msg, c.buf = msg, b
	if c.out != nil {
		c.out.tail(b[:len(b)/2])
	}
}
