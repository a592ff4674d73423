package gen

import (
	"strconv"
	"time"
)

var (
	mainTools = []string{"Read", "Read", "Read", "Bash", "Bash", "Grep", "Edit", "Edit", "Write", "Glob", "TodoWrite"}
	subTools  = []string{"Read", "Read", "Grep", "Grep", "Glob", "Bash"}
)

// respond writes one API response as Claude Code does while streaming: one
// line per content block, all sharing message.id and requestId, with
// output_tokens growing to the final count on the last copy. It returns the
// tool calls the response makes; final responses make none.
func (c *convo) respond(final bool) []toolUse {
	g, r, s := c.s.g, c.rng(), c.s
	resp := &response{
		model:     c.model,
		messageID: randomID(r, "msg_01", 22),
		requestID: randomID(r, "req_011C", 16),
		written:   -1,
	}
	t := &resp.tokens
	t.Input = 1 + r.Int64N(9)
	if r.IntN(20) == 0 {
		t.Input = logUniform(r, 50, 3000)
	}
	create, read := c.pending+r.Int64N(400), c.ctx
	if read > 0 && r.IntN(30) == 0 {
		// The cache expired: the whole prefix is written again.
		create, read = create+read, 0
	}
	t.CacheRead = read
	switch {
	case r.Float64() < 0.05 && s.era == era21x:
		t.CacheCreation1h = create / 3
		t.CacheCreation5m = create - t.CacheCreation1h
	case r.Float64() < s.cache1h:
		t.CacheCreation1h = create
	default:
		t.CacheCreation5m = create
	}
	if s.era >= era20 && c.model != modelHaiku45 && r.IntN(40) == 0 {
		t.WebSearchRequests = 1 + r.Int64N(4)
	}
	if g.cfg.Billing && s.era == era21x {
		resp.fast = s.fast && fastModel(c.model) && r.IntN(10) < 6
		resp.batch = r.IntN(120) == 0
		if r.IntN(25) == 0 {
			t.WebFetchRequests = 1 + r.Int64N(3)
		}
		if s.gateway {
			// The gateway's zeros say nothing about lifetimes: what the
			// flat count holds beyond them is 5-minute writes.
			t.CacheCreation5m, t.CacheCreation1h = t.CacheCreation(), 0
		}
	}
	t.Output = logUniform(r, 8, 2500)

	// Content blocks.
	var kinds []string
	if s.era >= era20 && r.IntN(3) == 0 {
		kinds = append(kinds, "thinking")
		t.Output += logUniform(r, 20, 2000)
	}
	if final || r.IntN(4) != 0 {
		kinds = append(kinds, "text")
	}
	var tools []toolUse
	if !final {
		n := 1
		if r.IntN(5) == 0 {
			n += 1 + r.IntN(2)
		}
		for range n {
			tools = append(tools, toolUse{id: randomID(r, "toolu_01", 22), name: c.pickTool()})
			kinds = append(kinds, "tool_use")
		}
	}
	c.ctx = read + create
	c.pending = t.Output

	// Output per copy: sometimes all equal, usually growing.
	outs := make([]int64, len(kinds))
	// Subagents of 2.1.x log the same output count on every copy, which
	// keeps their agent_progress copies in the parent consistent with the
	// subagent file (real files look like this).
	equal := r.IntN(5) < 2 || c.mirror != nil
	for i := range outs {
		switch {
		case equal || i == len(outs)-1:
			outs[i] = t.Output
		case i == 0:
			outs[i] = 1 + r.Int64N(min(t.Output, 30))
		default:
			outs[i] = outs[i-1] + r.Int64N(t.Output-outs[i-1]+1)
		}
	}
	ti := 0
	for i, kind := range kinds {
		c.tick(200*time.Millisecond, 3*time.Second)
		var block []byte
		switch kind {
		case "thinking":
			block = append(block, `{"type":"thinking","thinking":"`...)
			block = append(block, g.pool.text(r, int(logUniform(r, 100, 6000)))...)
			block = append(block, `","signature":"`...)
			block = append(block, g.pool.signature(r, int(logUniform(r, 200, 3000)))...)
			block = append(block, `"}`...)
		case "text":
			block = append(block, `{"type":"text","text":"`...)
			block = append(block, g.pool.text(r, int(logUniform(r, 40, 4000)))...)
			block = append(block, `"}`...)
		case "tool_use":
			block = c.toolUseBlock(block, tools[ti])
			ti++
		}
		c.assistantCopy(resp, block, outs[i], i == 0, final && i == len(kinds)-1)
	}
	g.account(resp, s)
	return tools
}

func (c *convo) pickTool() string {
	r := c.rng()
	if c.sidechain {
		return subTools[r.IntN(len(subTools))]
	}
	if c.forceTask {
		return "Task"
	}
	if r.IntN(c.s.g.taskOdds()) == 0 {
		return "Task"
	}
	return mainTools[r.IntN(len(mainTools))]
}

func (c *convo) toolUseBlock(b []byte, t toolUse) []byte {
	g, r := c.s.g, c.rng()
	b = append(b, `{"type":"tool_use","id":"`...)
	b = append(b, t.id...)
	b = append(b, `","name":"`...)
	b = append(b, t.name...)
	b = append(b, `","input":{`...)
	path := func() {
		b = append(b, `"file_path":"`...)
		b = append(b, c.s.p.cwd...)
		b = append(b, "/src/"...)
		b = append(b, randomHex(r, 6)...)
		b = append(b, `.go"`...)
	}
	switch t.name {
	case "Read":
		path()
	case "Edit":
		path()
		b = appendStr(b, "old_string", g.pool.text(r, int(logUniform(r, 20, 1500))))
		b = appendStr(b, "new_string", g.pool.text(r, int(logUniform(r, 20, 1500))))
	case "Write":
		path()
		b = appendStr(b, "content", g.pool.text(r, int(logUniform(r, 200, 12000))))
	case "Bash":
		b = append(b, `"command":"go test ./... -run `...)
		b = append(b, randomHex(r, 4)...)
		b = append(b, `","description":"Run the tests"`...)
	case "Grep":
		b = append(b, `"pattern":"`...)
		b = append(b, vocabulary[r.IntN(40)]...)
		b = append(b, `","path":"src","output_mode":"content"`...)
	case "Glob":
		b = append(b, `"pattern":"**/*.go"`...)
	case "TodoWrite":
		b = append(b, `"todos":[{"content":"`...)
		b = append(b, g.pool.text(r, 60)...)
		b = append(b, `","status":"in_progress","activeForm":"Working"}]`...)
	case "Task":
		b = append(b, `"description":"Explore the code","prompt":"`...)
		b = append(b, g.pool.text(r, int(logUniform(r, 100, 2000)))...)
		b = append(b, `","subagent_type":"Explore"`...)
	}
	return append(b, `}}`...)
}

// message appends the assistant message object of one copy of resp.
func (c *convo) message(b []byte, resp *response, block []byte, out int64, last bool) []byte {
	s, t := c.s, &resp.tokens
	b = append(b, `{"model":"`...)
	b = append(b, resp.model...)
	b = append(b, `","id":"`...)
	b = append(b, resp.messageID...)
	b = append(b, `","type":"message","role":"assistant","content":[`...)
	b = append(b, block...)
	b = append(b, `],"stop_reason":`...)
	if last {
		b = append(b, `"end_turn"`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"stop_sequence":null,"usage":{"input_tokens":`...)
	b = strconv.AppendInt(b, t.Input, 10)
	b = appendInt(b, "cache_creation_input_tokens", t.CacheCreation())
	b = appendInt(b, "cache_read_input_tokens", t.CacheRead)
	if !s.noCacheObject {
		m5, h1 := t.CacheCreation5m, t.CacheCreation1h
		if s.gateway {
			m5, h1 = 0, 0
		}
		b = append(b, `,"cache_creation":{"ephemeral_5m_input_tokens":`...)
		b = strconv.AppendInt(b, m5, 10)
		b = appendInt(b, "ephemeral_1h_input_tokens", h1)
		b = append(b, '}')
	}
	b = appendInt(b, "output_tokens", out)
	if t.WebSearchRequests > 0 || s.era == era21x {
		b = append(b, `,"server_tool_use":{"web_search_requests":`...)
		b = strconv.AppendInt(b, t.WebSearchRequests, 10)
		if s.era == era21x {
			b = appendInt(b, "web_fetch_requests", t.WebFetchRequests)
		}
		b = append(b, '}')
	}
	if resp.batch {
		b = append(b, `,"service_tier":"batch"`...)
	} else {
		b = append(b, `,"service_tier":"standard"`...)
	}
	if s.era == era21x {
		b = append(b, `,"inference_geo":"`...)
		b = append(b, s.geo...)
		b = append(b, '"')
		switch {
		case resp.fast:
			b = append(b, `,"speed":"fast"`...)
		case s.speed:
			b = append(b, `,"speed":"standard"`...)
		}
	}
	return append(b, `}}`...)
}

// assistantCopy writes one copy of resp carrying block and out output tokens.
func (c *convo) assistantCopy(resp *response, block []byte, out int64, first, last bool) {
	c.msg = c.message(c.msg[:0], resp, block, out, last)
	b := c.head(c.buf[:0])
	b = append(b, `,"message":`...)
	b = append(b, c.msg...)
	b = append(b, `,"requestId":"`...)
	b = append(b, resp.requestID...)
	b = append(b, `","type":"assistant"`...)
	b = c.idTime(b, c.now)
	c.buf = append(b, '}')
	if c.out != nil {
		c.emit(c.buf, lineAssistant)
		resp.keep(out, c.now)
	}
	if c.mirror != nil && c.mirror.assistant(c, resp, out, first) {
		resp.keep(out, c.now)
	}
}

// toolResult writes the user line that returns a tool's output; big ones
// copy the 100 KB - 1.5 MB results real sessions carry.
func (c *convo) toolResult(t toolUse, big bool) {
	g, r := c.s.g, c.rng()
	n := logUniform(r, 80, 24<<10)
	if c.s.g.long {
		n = logUniform(r, 80, longToolResult)
	}
	if c.sidechain {
		n = logUniform(r, 80, 8<<10)
	}
	if big {
		n = logUniform(r, 100<<10, maxBigResult)
		if c.forceBig {
			n = logUniform(r, 100<<10, 300<<10)
		}
		if g.remaining() < 4*n {
			n = logUniform(r, 80, 24<<10)
		}
	}
	// Near the end of the budget, keep results small so that the total
	// lands close to the requested size.
	n = min(n, max(80, g.remaining()))
	if t.name == "Bash" && c.s.era == era21x {
		for k := range 1 + r.IntN(3) {
			c.tick(time.Second, 3*time.Second)
			b := c.head(c.buf[:0])
			b = append(b, `,"type":"progress","data":{"type":"bash_progress","output":"","fullOutput":"","elapsedTimeSeconds":`...)
			b = strconv.AppendInt(b, int64(k+1), 10)
			b = append(b, `,"totalLines":0,"timeoutMs":120000},"toolUseID":"bash-progress-`...)
			b = strconv.AppendInt(b, int64(k), 10)
			b = append(b, `","parentToolUseID":"`...)
			b = append(b, t.id...)
			b = append(b, '"')
			b = c.idTime(b, c.now)
			c.buf = append(b, '}')
			c.emit(c.buf, lineBashProgress)
		}
	}
	if g.long {
		// Slow tools (builds, test suites) spread a turn's responses over
		// several quarter hours.
		c.tick(20*time.Second, 6*time.Minute)
	} else {
		c.tick(100*time.Millisecond, 5*time.Second)
	}
	text := g.pool.text(r, int(n))
	c.pending += int64(len(text)) / 4
	b := c.head(c.buf[:0])
	b = append(b, `,"type":"user","message":{"role":"user","content":[{"tool_use_id":"`...)
	b = append(b, t.id...)
	b = append(b, `","type":"tool_result","content":"`...)
	b = append(b, text...)
	b = append(b, `"}]}`...)
	b = c.idTime(b, c.now)
	if c.s.era >= era20 {
		b = append(b, `,"toolUseResult":{"stdout":"`...)
		b = append(b, clip(text, 200)...)
		b = append(b, `","stderr":"","interrupted":false,"isImage":false}`...)
	}
	c.buf = append(b, '}')
	c.emit(c.buf, lineUser)
	if c.mirror != nil && r.IntN(3) == 0 {
		c.mirror.user(c, clip(text, 300))
	}
}

// subagent runs a Task tool call in the layout of the session's era.
func (c *convo) subagent(t toolUse) {
	g, r, s := c.s.g, c.rng(), c.s
	model := c.model
	switch k := r.IntN(100); {
	case k < 55:
		model = modelHaiku45
	case k < 80:
		model = modelSonnet45
	}
	if c.forceTask {
		model = modelHaiku45
	}
	if g.cfg.Billing && model != c.model {
		tl := modelTimeline[timelineAt(c.now)]
		if model == modelHaiku45 {
			model = s.modelID(tl.haiku)
		} else {
			model = s.modelID(tl.sonnet)
		}
	}
	sub := &convo{
		s: s, sidechain: true, model: model, now: c.now,
		pending: 3000 + r.Int64N(12_000), limit: 1 << 40,
	}
	defer func() { c.forceTask = false }()
	owned := false
	switch s.era {
	case era1x:
		sub.out = c.out
		g.man.Layouts[LayoutInlineSidechain]++
	case era20:
		sub.agentID = randomHex(r, 7+r.IntN(2))
		sub.out = g.create(s.p.folder+"/agent-"+sub.agentID+".jsonl", KindAgent)
		owned = true
	case era21x:
		sub.agentID = "a" + randomHex(r, []int{6, 16}[r.IntN(2)])
		sub.mirror = &mirror{parent: c, toolUse: t.id, agentID: sub.agentID, p: 0.8}
		if r.IntN(7) == 0 || c.forceTask {
			sub.mirror.must = true
			g.man.Layouts[LayoutProgressOnly]++
		} else {
			sub.out = g.create(s.p.folder+"/"+s.id+"/subagents/agent-"+sub.agentID+".jsonl", KindSubagent)
			owned = true
		}
	}
	prompt := g.pool.text(r, int(logUniform(r, 100, 1500)))
	if sub.mirror != nil {
		sub.mirror.prompt = clip(prompt, 120)
	}
	sub.userPrompt(int64(len(prompt)))
	n := int(logUniform(r, 2, 14))
	for k := range n {
		for _, st := range sub.respond(k == n-1) {
			sub.toolResult(st, false)
		}
		if g.full() {
			break
		}
	}
	if owned {
		sub.out.close()
	}
	c.now = sub.now
	c.toolResult(t, false)
}

// compact writes a context compaction: in 2.1.x a separate
// agent-acompact-* transcript that reads the whole context, and a
// compact_boundary line; earlier eras just summarise.
func (c *convo) compact() {
	g, r, s := c.s.g, c.rng(), c.s
	if s.era == era21x {
		sub := &convo{
			s: s, sidechain: true, model: c.model, now: c.now,
			agentID: "acompact-" + randomHex(r, 6), ctx: c.ctx, pending: 200, limit: 1 << 40,
		}
		sub.out = g.create(s.p.folder+"/"+s.id+"/subagents/agent-"+sub.agentID+".jsonl", KindCompact)
		sub.userPrompt(int64(200 + r.IntN(800)))
		sub.respond(true)
		sub.out.close()
		c.now = sub.now
	}
	if s.era == era1x {
		c.summary()
	} else {
		b := c.head(c.buf[:0])
		b = append(b, `,"type":"system","subtype":"compact_boundary","content":"Conversation compacted","isMeta":false`...)
		b = c.idTime(b, c.now)
		b = append(b, `,"level":"info","compactMetadata":{"trigger":"auto","preTokens":`...)
		b = strconv.AppendInt(b, c.ctx, 10)
		c.buf = append(b, `}}`...)
		c.emit(c.buf, lineCompactBoundary)
	}
	c.ctx = 0
	c.pending = 15_000 + r.Int64N(25_000)
}

// assistant mirrors one assistant copy into the parent as agent_progress and
// reports whether it did. A mirrored response always includes its first
// copy, so the earliest copy of every response is in both files and every
// reader agrees on its timestamp.
func (m *mirror) assistant(sub *convo, resp *response, out int64, first bool) bool {
	if first {
		m.took = m.must || sub.rng().Float64() < m.p
	}
	if !m.took || !first && sub.rng().Float64() >= 0.5 {
		return false
	}
	b := append(m.parent.msg[:0], `{"type":"assistant","timestamp":"`...)
	b = sub.now.UTC().AppendFormat(b, tsLayout)
	b = append(b, `","message":`...)
	b = append(b, sub.msg...)
	b = append(b, `,"requestId":"`...)
	b = append(b, resp.requestID...)
	b = append(b, `","uuid":"`...)
	b = append(b, sub.parent...)
	b = append(b, `"}`...)
	m.parent.msg = b
	m.write(sub, lineAgentProgressAssistant)
	return true
}

// user mirrors a subagent user line with the given text.
func (m *mirror) user(sub *convo, text []byte) {
	if sub.rng().Float64() >= m.p {
		return
	}
	b := append(m.parent.msg[:0], `{"type":"user","message":{"role":"user","content":[{"type":"text","text":"`...)
	b = append(b, text...)
	b = append(b, `"}]},"uuid":"`...)
	b = append(b, sub.parent...)
	b = append(b, `","timestamp":"`...)
	b = sub.now.UTC().AppendFormat(b, tsLayout)
	b = append(b, `"}`...)
	m.parent.msg = b
	m.write(sub, lineAgentProgressUser)
}

// write emits the parent's progress line around the embedded message
// already in m.parent.msg.
func (m *mirror) write(sub *convo, kind string) {
	p := m.parent
	b := p.head(p.buf[:0])
	b = append(b, `,"type":"progress","data":{"message":`...)
	b = append(b, p.msg...)
	b = append(b, `,"normalizedMessages":[],"type":"agent_progress","prompt":"`...)
	b = append(b, m.prompt...)
	b = append(b, `","agentId":"`...)
	b = append(b, m.agentID...)
	b = append(b, `"},"toolUseID":"agent_msg_`...)
	b = append(b, randomID(sub.rng(), "01", 22)...)
	b = append(b, `","parentToolUseID":"`...)
	b = append(b, m.toolUse...)
	b = append(b, '"')
	b = p.idTime(b, sub.now.Add(time.Millisecond))
	p.buf = append(b, '}')
	p.emit(p.buf, kind)
}
