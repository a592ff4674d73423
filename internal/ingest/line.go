package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/source"
	"github.com/claude-token-monitor/ctm/internal/source/claude"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Source is what a transcript's path says about its lines: the fallbacks for
// lines that lack a sessionId or cwd.
type Source = source.Origin

// SourceOf describes the transcript at path, which lies under projectsDir
// (a root's "projects" directory). A path outside projectsDir is described
// from its parent directory and file name.
func SourceOf(projectsDir, path string) Source { return claude.OriginOf(projectsDir, path) }

// DecodeProjectFolder turns a transcript folder name back into the cwd it
// was made from, as well as it can (see claude.DecodeProjectFolder).
func DecodeProjectFolder(folder string) string { return claude.DecodeProjectFolder(folder) }

// ErrBadLine is wrapped by ParseLine's errors: the line is not a JSON
// object, or is cut short.
var ErrBadLine = errors.New("unparseable transcript line")

// usageMarker is in every line that holds usage. ParseLine only checks the
// shape of lines without it, never decodes them; parseAny, which the reader
// uses, walks every line once and learns the same from the walk.
var usageMarker = []byte(`"usage"`)

// ParseLine returns the usage record in one transcript line, if it holds
// one: a top-level "assistant" line with message.usage, or an
// "agent_progress" line's embedded assistant message (DESIGN §2). ok is
// false for every other line. Lines of model "<synthetic>" (local error
// placeholders) hold no record. The error wraps ErrBadLine when the line is
// not a JSON object; unknown types and members are ignored.
//
// A line without the bytes "usage" is reported as holding no record after
// only a check that it looks like an object, so not every malformed line is
// caught; every cut-short line that holds usage is.
//
// A token count over MaxTokenCount makes the line bad. A negative one is
// read as 0: the record is returned with ok true and an error wrapping
// ErrBadValue, so that callers can count it.
func ParseLine(line []byte, src *Source) (rec usage.Record, ok bool, err error) {
	return parseLine(line, src, nil)
}

// parseLine is ParseLine sharing the strings that repeat from line to line
// through strs, which may be nil.
func parseLine(line []byte, src *Source, strs *interner) (rec usage.Record, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return rec, false, nil
	}
	if !bytes.Contains(line, usageMarker) {
		if line[0] != '{' || line[len(line)-1] != '}' {
			return rec, false, fmt.Errorf("%w: not a JSON object", ErrBadLine)
		}
		return rec, false, nil
	}
	var l transcriptLine
	s := scanner{b: line}
	if !l.scan(&s) || s.bad || s.peek() != 0 {
		return rec, false, fmt.Errorf("%w: invalid JSON near byte %d", ErrBadLine, min(s.i, len(line)))
	}
	return l.record(line, src, strs)
}

// lineKind says what parseAny found in a line.
type lineKind uint8

const (
	nothing lineKind = iota
	aRecord
	aPrompt
)

// parseAny is what a worker does with each line: parseLine, then
// parsePrompt when the line holds no record and is not bad. It returns
// exactly what those two would, but walks a line once instead of searching
// it for three markers and then walking it once or twice: the walk of
// parseLine notes the markers as it goes (see scanner.mark), which answers
// parsePrompt's first questions too. Only a line that may be a prompt is
// walked again, by parsePrompt, and a line the walk rejects goes through
// the two functions themselves, so that bad lines are told apart exactly
// as before.
func parseAny(line []byte, src *Source, strs *interner) (rec usage.Record, p usage.Prompt, kind lineKind, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return rec, p, nothing, nil
	}
	var l transcriptLine
	s := scanner{b: line}
	ok := false
	// The walk must end at the end, not at a NUL that peek reads as one:
	// parseLine tells a line without "usage" by its last byte.
	if !l.scan(&s) || s.bad || !s.atEnd() {
		// parseLine does not walk a line without "usage", and the two
		// walks are strict in different places.
		if rec, ok, err = parseLine(line, src, strs); ok {
			return rec, p, aRecord, err
		} else if err != nil {
			return rec, p, nothing, err
		}
		if p, ok = parsePrompt(line, src, strs); ok {
			return rec, p, aPrompt, nil
		}
		return rec, p, nothing, nil
	}
	if s.marks&markUsage != 0 {
		if rec, ok, err = l.record(line, src, strs); ok {
			return rec, p, aRecord, err
		} else if err != nil {
			return rec, p, nothing, err
		}
	}
	if s.marks&(markUser|markToolUseID) != markUser || string(l.typ) != "user" || l.isSidechain || l.meta || l.compactSummary {
		return rec, p, nothing, nil
	}
	if p, ok = promptOf(line, src, strs); ok {
		return rec, p, aPrompt, nil
	}
	return rec, p, nothing, nil
}

// interner shares the strings that repeat on every line of a transcript
// (model, session, cwd, ...), which saves most of a record's allocations.
// It is not safe for concurrent use.
type interner struct{ m map[string]string }

// maxInterned bounds an interner; it starts afresh when full.
const maxInterned = 4096

func (in *interner) str(b []byte) string {
	if len(b) == 0 || in == nil {
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]string, 64)
	}
	s := string(b)
	in.m[s] = s
	return s
}

// transcriptLine holds the members of a line that a usage record needs.
// Byte slices alias the line.
type transcriptLine struct {
	typ, uuid, sessionID, cwd, gitBranch, version, requestID, timestamp []byte
	isSidechain                                                         bool
	// isMeta and isCompactSummary are not a record's, but they tell
	// parseAny which user lines are no prompt without a second walk.
	meta, compactSummary bool
	message              apiMessage
	data                 progressData
	// attribution members of newer Claude Code: what the request was
	// made for.
	skill, plugin, agent []byte
}

// apiMessage is an API response as logged: message.{id, model, usage}.
type apiMessage struct {
	present   bool
	id, model []byte
	usage     apiUsage
}

type apiUsage struct {
	present                                 bool
	input, output, cacheCreation, cacheRead int64
	hasCacheObject                          bool
	cache5m, cache1h                        int64
	webSearch, webFetch                     int64
	serviceTier, speed, inferenceGeo        []byte
}

// progressData is a progress line's data: {type, message: {type, message,
// requestId, timestamp, uuid}}.
type progressData struct {
	typ   []byte
	inner struct {
		present                         bool
		typ, requestID, timestamp, uuid []byte
		message                         apiMessage
	}
}

// scan reads the line's members. A member that occurs twice takes its last
// value, as with any JSON decoder.
func (l *transcriptLine) scan(s *scanner) bool {
	return s.object(func(key []byte) {
		switch string(key) {
		case "type":
			l.typ = s.stringBytes()
		case "uuid":
			l.uuid = s.stringBytes()
		case "sessionId":
			l.sessionID = s.stringBytes()
		case "cwd":
			l.cwd = s.stringBytes()
		case "gitBranch":
			l.gitBranch = s.stringBytes()
		case "version":
			l.version = s.stringBytes()
		case "requestId":
			l.requestID = s.stringBytes()
		case "timestamp":
			l.timestamp = s.stringBytes()
		case "isSidechain":
			l.isSidechain = s.boolean()
		case "isMeta":
			l.meta = s.boolean()
		case "isCompactSummary":
			l.compactSummary = s.boolean()
		case "attributionSkill":
			l.skill = s.stringBytes()
		case "attributionPlugin":
			l.plugin = s.stringBytes()
		case "attributionAgent":
			l.agent = s.stringBytes()
		case "message":
			l.message.scan(s)
		case "data":
			l.data.scan(s)
		default:
			s.skip()
		}
	})
}

func (m *apiMessage) scan(s *scanner) {
	*m = apiMessage{}
	m.present = s.object(func(key []byte) {
		switch string(key) {
		case "id":
			m.id = s.stringBytes()
		case "model":
			m.model = s.stringBytes()
		case "usage":
			m.usage.scan(s)
		default:
			s.skip() // content above all
		}
	})
}

func (u *apiUsage) scan(s *scanner) {
	*u = apiUsage{}
	u.present = s.object(func(key []byte) {
		switch string(key) {
		case "input_tokens":
			u.input = s.integer()
		case "output_tokens":
			u.output = s.integer()
		case "cache_creation_input_tokens":
			u.cacheCreation = s.integer()
		case "cache_read_input_tokens":
			u.cacheRead = s.integer()
		case "cache_creation":
			u.cache5m, u.cache1h = 0, 0
			u.hasCacheObject = s.object(func(key []byte) {
				switch string(key) {
				case "ephemeral_5m_input_tokens":
					u.cache5m = s.integer()
				case "ephemeral_1h_input_tokens":
					u.cache1h = s.integer()
				default:
					s.skip()
				}
			})
		case "server_tool_use":
			u.webSearch, u.webFetch = 0, 0
			s.object(func(key []byte) {
				switch string(key) {
				case "web_search_requests":
					u.webSearch = s.integer()
				case "web_fetch_requests":
					u.webFetch = s.integer()
				default:
					s.skip()
				}
			})
		case "service_tier":
			u.serviceTier = s.stringBytes()
		case "speed":
			u.speed = s.stringBytes()
		case "inference_geo":
			u.inferenceGeo = s.stringBytes()
		default:
			s.skip()
		}
	})
}

func (d *progressData) scan(s *scanner) {
	*d = progressData{}
	s.object(func(key []byte) {
		switch string(key) {
		case "type":
			d.typ = s.stringBytes()
		case "message":
			in := &d.inner
			*in = progressData{}.inner
			in.present = s.object(func(key []byte) {
				switch string(key) {
				case "type":
					in.typ = s.stringBytes()
				case "requestId":
					in.requestID = s.stringBytes()
				case "timestamp":
					in.timestamp = s.stringBytes()
				case "uuid":
					in.uuid = s.stringBytes()
				case "message":
					in.message.scan(s)
				default:
					s.skip()
				}
			})
		default:
			s.skip() // normalizedMessages, prompt, ...
		}
	})
}

// attribution returns the line's attribution as Record.Attribution has it,
// the name cut to maxNameBytes: it is a label of every such record and a
// row of the breakdown, not text to keep whole.
func (l *transcriptLine) attribution(strs *interner) string {
	switch {
	case len(l.skill) > 0:
		return strs.str(append([]byte("skill:"), cutName(l.skill)...))
	case len(l.plugin) > 0:
		return strs.str(append([]byte("plugin:"), cutName(l.plugin)...))
	case len(l.agent) > 0:
		return strs.str(append([]byte("agent:"), cutName(l.agent)...))
	}
	return ""
}

// cutName cuts b to at most maxNameBytes without splitting a character.
func cutName(b []byte) []byte {
	if len(b) <= maxNameBytes {
		return b
	}
	n := maxNameBytes
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}

// syntheticModel marks Claude Code's local error placeholders.
const syntheticModel = "<synthetic>"

// record applies the accounting rules to a scanned line.
func (l *transcriptLine) record(line []byte, src *Source, strs *interner) (rec usage.Record, ok bool, err error) {
	msg, requestID, timestamp, uuid := &l.message, l.requestID, l.timestamp, l.uuid
	sidechain := l.isSidechain
	agent, attribution := "", ""
	switch string(l.typ) {
	case "assistant":
		agent, attribution = src.Agent, l.attribution(strs)
	case "progress":
		in := &l.data.inner
		if string(l.data.typ) != "agent_progress" || !in.present || string(in.typ) != "assistant" {
			return rec, false, nil
		}
		msg, requestID, uuid = &in.message, in.requestID, in.uuid
		if len(in.timestamp) > 0 {
			timestamp = in.timestamp
		}
		// The embedded message is a subagent's; its own transcript marks
		// the same response as a sidechain, and knows its type.
		sidechain = true
	default:
		return rec, false, nil
	}
	if !msg.present || !msg.usage.present || string(msg.model) == syntheticModel {
		return rec, false, nil
	}
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return rec, false, fmt.Errorf("%w: usage without a valid timestamp: %q", ErrBadLine, timestamp)
	}
	u := &msg.usage
	cwd := strs.str(l.cwd)
	rec = usage.Record{
		Timestamp:    ts.UTC(),
		Model:        strs.str(msg.model),
		SessionID:    strs.str(l.sessionID),
		Project:      cwd,
		CWD:          cwd,
		GitBranch:    strs.str(l.gitBranch),
		Version:      strs.str(l.version),
		IsSidechain:  sidechain,
		ServiceTier:  strs.str(u.serviceTier),
		Speed:        strs.str(u.speed),
		InferenceGeo: strs.str(u.inferenceGeo),
		Agent:        agent,
		Attribution:  attribution,
		Tokens: usage.Tokens{
			Input:             u.input,
			Output:            u.output,
			CacheCreation5m:   u.cacheCreation,
			CacheRead:         u.cacheRead,
			WebSearchRequests: u.webSearch,
			WebFetchRequests:  u.webFetch,
		},
	}
	if u.hasCacheObject {
		// Some gateways write zeros into the object under a non-zero flat
		// count: what the object does not account for are 5-minute writes.
		rec.CacheCreation5m, rec.CacheCreation1h = u.cache5m, u.cache1h
		if rest := u.cacheCreation - u.cache5m - u.cache1h; rest > 0 {
			rec.CacheCreation5m += rest
		}
	}
	valueErr := checkTokens(&rec.Tokens)
	if errors.Is(valueErr, ErrBadLine) {
		return usage.Record{}, false, valueErr
	}
	if rec.SessionID == "" {
		rec.SessionID = src.SessionID
	}
	if rec.Project == "" {
		rec.Project = src.Project
	}
	// The key as usage.RecordKey makes it, with the ids it is made of
	// cut from it: one allocation instead of three.
	if len(msg.id) > 0 {
		rec.Key = string(msg.id) + ":" + string(requestID)
		rec.MessageID, rec.RequestID = rec.Key[:len(msg.id)], rec.Key[len(msg.id)+1:]
		return rec, true, valueErr
	}
	rec.RequestID = string(requestID)
	if len(uuid) > 0 {
		rec.Key = "line:" + string(uuid)
	} else {
		sum := sha256.Sum256(line)
		rec.Key = "line:sha256:" + hex.EncodeToString(sum[:16])
	}
	return rec, true, valueErr
}
