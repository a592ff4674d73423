package gen

import (
	"math/rand/v2"
	"slices"
	"strconv"
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
	if i < len(eraBounds)-1 {
		frac = eraBounds[i] + frac*(eraBounds[i+1]-eraBounds[i])
	}
	offset := time.Duration(frac * float64(window))
	s := &session{g: g, p: p, index: i, id: newUUID(r), branch: p.branch[r.IntN(len(p.branch))]}
	switch {
	case frac < eraBounds[1]:
		s.era = era1x
		s.noCacheObject = r.IntN(2) == 0 || i == 0
	case frac < eraBounds[2]:
		s.era = era20
	default:
		s.era = era21x
		if r.IntN(2) == 0 {
			s.cache1h = 0.9
		}
		s.speed = r.IntN(3) == 0
	}
	s.version = versions[s.era][r.IntN(len(versions[s.era]))]
	if s.era >= era20 {
		s.slug = g.slug()
	}
	c := &convo{s: s, model: g.mainModel(s.era), now: g.start.Add(offset), limit: 140_000 + r.Int64N(40_000)}
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
	if c.model == modelSonnet45 && (i == 1 || r.IntN(3) == 0) {
		// Long-context sessions: sonnet-4-5 bills prompts over 200k
		// tokens at long-context rates, so some must cross the line.
		c.pending = 150_000 + r.Int64N(45_000)
		c.limit = 420_000
	}

	target := logUniform(r, 6<<10, 4<<20)
	if i < len(eraBounds)-1 {
		target = max(target, 512<<10) // room for the forced shapes
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
	c.tick(5*time.Second, 20*time.Minute)
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
