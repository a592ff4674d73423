package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// historyLine is one line of history.jsonl.
type historyLine struct {
	Display        string          `json:"display"`
	PastedContents json.RawMessage `json:"pastedContents"`
	Timestamp      json.RawMessage `json:"timestamp"`
	Project        string          `json:"project"`
	SessionID      string          `json:"sessionId"`
}

// ReadHistory reads history.jsonl, the prompts typed into Claude Code.
// Lines that are not JSON objects or lack a timestamp are skipped and
// counted in badLines; an unterminated last line that does not parse is
// taken to be still being written and skipped without counting. Lines may
// be of any length. err reports only a failure to read r.
func ReadHistory(r io.Reader) (entries []usage.HistoryEntry, badLines int, err error) {
	lr := newLineReader(r, 0)
	for {
		line, _, complete, err := lr.next()
		if errors.Is(err, io.EOF) {
			return entries, badLines, nil
		}
		if err != nil {
			return entries, badLines, fmt.Errorf("read history: %w", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, perr := parseHistoryLine(line)
		switch {
		case perr == nil:
			entries = append(entries, e)
		case complete:
			badLines++
		}
	}
}

func parseHistoryLine(line []byte) (usage.HistoryEntry, error) {
	var l historyLine
	if err := json.Unmarshal(line, &l); err != nil {
		return usage.HistoryEntry{}, err
	}
	ts, err := historyTime(l.Timestamp)
	if err != nil {
		return usage.HistoryEntry{}, err
	}
	return usage.HistoryEntry{
		Display:        l.Display,
		Timestamp:      ts,
		Project:        l.Project,
		SessionID:      l.SessionID,
		PastedContents: countEntries(l.PastedContents),
	}, nil
}

// historyTime reads a timestamp in epoch milliseconds, or an RFC 3339
// string as a fallback.
func historyTime(raw json.RawMessage) (time.Time, error) {
	var ms json.Number
	if err := json.Unmarshal(raw, &ms); err == nil {
		if n := numberToInt([]byte(ms)); n > 0 {
			return time.UnixMilli(n).UTC(), nil
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("history line without a valid timestamp: %s", raw)
}

// countEntries counts the members of an object or the elements of an
// array; anything else counts 0.
func countEntries(raw json.RawMessage) int {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		return len(obj)
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil {
		return len(arr)
	}
	return 0
}
