package team

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Limits of an ingested record. They are far above anything Claude Code
// writes and exist so that a broken or hostile client cannot store
// nonsense: a single response never has a billion tokens of one kind.
const (
	// MaxTokens bounds each token count of one record.
	MaxTokens = 1_000_000_000
	// MaxBatchRecords bounds the records of one ingest request.
	MaxBatchRecords = 10_000
	// maxPathLength bounds project and cwd, in bytes.
	maxPathLength = 4096
	// maxIDLength bounds keys and ids, in bytes.
	maxIDLength = 512
	// maxShortLength bounds model, version, tier and speed, in bytes.
	maxShortLength = 200
)

// earliest is the earliest timestamp accepted: before it there was no
// Claude Code, so such a time is a clock or encoding bug.
var earliest = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// futureSlack is how far ahead of the server's clock a timestamp may be:
// machines' clocks drift, but not by a day.
const futureSlack = 24 * time.Hour

// ValidateRecord checks every field of a record that a machine pushed,
// against now. The message (EINVALID) names the field. User and Machine
// are checked by the caller, which decides them.
func ValidateRecord(r *usage.Record, now time.Time) error {
	if err := validText("key", r.Key, maxIDLength); err != nil {
		return err
	}
	switch {
	case r.Key == "":
		return usage.Errorf(usage.EINVALID, "key is empty")
	case r.MessageID != "" && r.Key != usage.RecordKey(r.MessageID, r.RequestID, ""):
		return usage.Errorf(usage.EINVALID, "key %q does not match message_id:request_id", r.Key)
	case r.MessageID == "" && (!strings.HasPrefix(r.Key, "line:") || len(r.Key) == len("line:")):
		return usage.Errorf(usage.EINVALID, "key %q: a record without message_id must be keyed line:<uuid>", r.Key)
	}
	return validFields(r, now)
}

// validFields checks every field but the key's form.
func validFields(r *usage.Record, now time.Time) error {
	texts := []struct {
		name, v string
		max     int
	}{
		{"message_id", r.MessageID, maxIDLength}, {"request_id", r.RequestID, maxIDLength},
		{"model", r.Model, maxShortLength}, {"session_id", r.SessionID, maxIDLength},
		{"project", r.Project, maxPathLength}, {"cwd", r.CWD, maxPathLength},
		{"git_branch", r.GitBranch, maxPathLength}, {"version", r.Version, maxShortLength},
		{"service_tier", r.ServiceTier, maxShortLength}, {"speed", r.Speed, maxShortLength},
		{"inference_geo", r.InferenceGeo, maxShortLength},
		{"agent", r.Agent, maxShortLength}, {"attribution", r.Attribution, maxShortLength},
	}
	for _, f := range texts {
		if err := validText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	switch {
	case r.Model == "<synthetic>":
		return usage.Errorf(usage.EINVALID, "model <synthetic> is a local placeholder, not usage")
	case r.Timestamp.Before(earliest):
		return usage.Errorf(usage.EINVALID, "timestamp %s is before %s", r.Timestamp.Format(time.RFC3339), earliest.Format(time.DateOnly))
	case r.Timestamp.After(now.Add(futureSlack)):
		return usage.Errorf(usage.EINVALID, "timestamp %s is in the future", r.Timestamp.Format(time.RFC3339))
	}
	return validTokens(r.Tokens)
}

// validTokens checks that every count is in [0, MaxTokens].
func validTokens(t usage.Tokens) error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"input_tokens", t.Input}, {"output_tokens", t.Output},
		{"cache_creation_5m_tokens", t.CacheCreation5m}, {"cache_creation_1h_tokens", t.CacheCreation1h},
		{"cache_read_tokens", t.CacheRead}, {"web_search_requests", t.WebSearchRequests},
	} {
		if f.v < 0 || f.v > MaxTokens {
			return usage.Errorf(usage.EINVALID, "%s %d is outside 0..%d", f.name, f.v, MaxTokens)
		}
	}
	return nil
}

// validText checks that v is valid UTF-8 without control characters and
// at most max bytes long.
func validText(name, v string, max int) error {
	switch {
	case len(v) > max:
		return usage.Errorf(usage.EINVALID, "%s is longer than %d bytes", name, max)
	case !utf8.ValidString(v):
		return usage.Errorf(usage.EINVALID, "%s is not valid UTF-8", name)
	case strings.ContainsFunc(v, unicode.IsControl):
		return usage.Errorf(usage.EINVALID, "%s contains a control character", name)
	}
	return nil
}
