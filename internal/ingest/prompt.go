package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Markers of ParsePrompt's fast path. Every user line has the first, so a
// line without it is no prompt; tool results, most of a transcript's user
// lines and some of its largest, have the second and are not prompts
// either, so neither kind is ever decoded.
var (
	userMarker       = []byte(`"user"`)
	toolResultMarker = []byte(`"tool_use_id"`)
)

// notPrompt lists the starts of user-line texts that Claude Code writes
// itself, not the user: an interruption notice, the output of a local or
// shell command, a background task's notification.
var notPrompt = []string{
	"[Request interrupted",
	"<local-command-",
	"<task-notification>",
	"<bash-stdout>",
	"<bash-stderr>",
}

// contextBlock lists the starts of text blocks that an editor or Claude
// Code adds beside what was typed.
var contextBlock = []string{"<ide_", "<system-reminder>"}

// ParsePrompt returns the prompt in one transcript line, if it holds one: a
// "user" line of the session itself (not a sidechain, not a meta or
// compact-summary line) whose content is text and no tool result, and not
// one of the texts Claude Code writes itself (see notPrompt). A slash
// command is returned as typed ("/name args"). ok is false for every other
// line, and for lines that are not valid JSON (ParseLine reports those).
func ParsePrompt(line []byte, src *Source) (p usage.Prompt, ok bool) {
	return parsePrompt(line, src, nil)
}

func parsePrompt(line []byte, src *Source, strs *interner) (p usage.Prompt, ok bool) {
	line = bytes.TrimSpace(line)
	if !bytes.Contains(line, userMarker) || bytes.Contains(line, toolResultMarker) {
		return p, false
	}
	return promptOf(line, src, strs)
}

// promptOf is parsePrompt past its markers, for a trimmed line that has
// the first and not the second.
func promptOf(line []byte, src *Source, strs *interner) (p usage.Prompt, ok bool) {
	var l promptLine
	s := scanner{b: line}
	if !l.scan(&s) || s.bad || s.peek() != 0 {
		return p, false
	}
	if string(l.typ) != "user" || l.sidechain || l.meta || l.compactSummary || l.toolResult {
		return p, false
	}
	text := promptText(l.texts)
	if text == "" {
		return p, false
	}
	ts, err := parseTimestamp(l.timestamp)
	if err != nil {
		return p, false
	}
	p = usage.Prompt{
		SessionID: strs.str(l.sessionID),
		Project:   strs.str(l.cwd),
		Timestamp: ts.UTC(),
		Text:      text,
	}
	if p.SessionID == "" {
		p.SessionID = src.SessionID
	}
	if p.Project == "" {
		p.Project = src.Project
	}
	id := string(l.uuid)
	if id == "" {
		sum := sha256.Sum256(line)
		id = "sha256:" + hex.EncodeToString(sum[:16])
	}
	p.Key = p.SessionID + ":" + id
	return p, true
}

// promptLine holds the members of a user line that a prompt needs.
type promptLine struct {
	typ, uuid, sessionID, cwd, timestamp []byte
	sidechain, meta, compactSummary      bool
	// toolResult is set when the content holds a tool result.
	toolResult bool
	texts      [][]byte
}

func (l *promptLine) scan(s *scanner) bool {
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
		case "timestamp":
			l.timestamp = s.stringBytes()
		case "isSidechain":
			l.sidechain = s.boolean()
		case "isMeta":
			l.meta = s.boolean()
		case "isCompactSummary":
			l.compactSummary = s.boolean()
		case "message":
			l.texts = l.texts[:0]
			s.object(func(key []byte) {
				if string(key) != "content" {
					s.skip()
					return
				}
				l.scanContent(s)
			})
		default:
			s.skip()
		}
	})
}

// scanContent reads message.content: a string, or an array of blocks of
// which the text ones count.
func (l *promptLine) scanContent(s *scanner) {
	switch s.peek() {
	case '"':
		if t := s.stringBytes(); t != nil {
			l.texts = append(l.texts, t)
		}
	case '[':
		s.array(func() {
			var typ, text []byte
			s.object(func(key []byte) {
				switch string(key) {
				case "type":
					typ = s.stringBytes()
				case "text":
					text = s.stringBytes()
				default:
					s.skip()
				}
			})
			switch string(typ) {
			case "text":
				l.texts = append(l.texts, text)
			case "tool_result":
				l.toolResult = true
			}
		})
	default:
		s.skip()
	}
}

// promptText returns what the user typed, from the text blocks of a user
// line, cut to usage.MaxPromptText bytes; "" when it is not a prompt.
func promptText(texts [][]byte) string {
	var typed []string
	for _, t := range texts {
		s := strings.TrimSpace(string(t))
		if s == "" || hasAnyPrefix(s, contextBlock) {
			continue
		}
		typed = append(typed, s)
	}
	text := strings.Join(typed, "\n")
	if text == "" || hasAnyPrefix(text, notPrompt) {
		return ""
	}
	if cmd, ok := slashCommand(text); ok {
		text = cmd
	}
	return truncateText(text, usage.MaxPromptText)
}

// slashCommand turns Claude Code's record of a typed slash command
// ("<command-message>…</command-message><command-name>/x</command-name>
// <command-args>y</command-args>") back into what was typed, "/x y".
func slashCommand(text string) (string, bool) {
	if !strings.HasPrefix(text, "<command-") {
		return "", false
	}
	name := between(text, "<command-name>", "</command-name>")
	if name == "" {
		return "", false
	}
	if args := between(text, "<command-args>", "</command-args>"); args != "" {
		return name + " " + args, true
	}
	return name, true
}

// between returns the trimmed text of s between the first open and the
// close after it, or "".
func between(s, open, close string) string {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	v, _, ok := strings.Cut(rest, close)
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// truncateText cuts s to at most n bytes without splitting a character.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
