// Package source describes where a data source keeps usage data, without
// reading any of it: the roots, the transcript files under them, what a
// path is, and what a transcript's path says about its lines. Ingest,
// watch, the statusline and serve ask a Source instead of knowing a
// directory layout, so a second data source is one new package that
// implements Source (internal/source/claude is the first).
package source

import (
	"context"
	"log/slog"
)

// Kind says what a file of a source is.
type Kind int

const (
	// Unknown is a path the source does not hold.
	Unknown Kind = iota
	// Transcript is a session or subagent transcript (JSONL).
	Transcript
	// StatsCache is the tool's own usage summary (Claude Code's
	// stats-cache.json).
	StatsCache
	// History is the prompt history (Claude Code's history.jsonl).
	History
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Transcript:
		return "transcript"
	case StatsCache:
		return "stats-cache"
	case History:
		return "history"
	}
	return "unknown"
}

// Origin is what a transcript's path says about its lines: the fallbacks
// for lines that lack a session id or working directory.
type Origin struct {
	// Path is the transcript file.
	Path string
	// SessionID is the session the path names.
	SessionID string
	// Project is the project the path names, as a path.
	Project string
	// MetaPath is the file that describes the subagent whose transcript
	// this is (Claude Code's agent-<id>.meta.json), "" for a session's
	// own transcript. The file may not exist.
	MetaPath string
	// Agent is the subagent type MetaPath names. A Source leaves it empty
	// (it reads no contents); the reader of the transcript fills it in.
	Agent string
}

// Source is one data source's layout over a set of roots. Its methods
// only stat and list directories; none reads a file's contents.
type Source interface {
	// Roots returns the absolute, distinct root directories, in order.
	Roots() []string
	// Transcripts returns every transcript file under the roots: absolute,
	// clean, each listed once. Missing roots and unreadable folders are
	// logged and skipped; it fails only when ctx is done.
	Transcripts(ctx context.Context, logger *slog.Logger) ([]string, error)
	// Classify returns what path is among the source's files, or Unknown.
	Classify(path string) Kind
	// Origin describes the transcript at path.
	Origin(path string) Origin
	// SessionFiles returns the transcript at path and the transcripts of
	// its subagents that can be found from the path alone, or nil when
	// path is not a transcript under the roots.
	SessionFiles(path string) []string
	// StatsCachePath returns the stats cache to read: the first root's
	// that exists, else the first root's path so that it is picked up
	// once written; "" when there are no roots.
	StatsCachePath() string
	// WatchDirs returns, per root, the directory whose whole tree holds
	// transcripts; top-level files of a root (see Classify) are watched
	// beside it.
	WatchDirs(root string) (tree string, topFiles []string)
}
