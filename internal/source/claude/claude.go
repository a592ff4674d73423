// Package claude is Claude Code's data directory layout, described once:
//
//	<root>/projects/<encoded-cwd>/<sessionId>.jsonl          session transcript
//	<root>/projects/<p>/agent-<id>.jsonl                     subagent (2.0–2.1.1)
//	<root>/projects/<p>/<sessionId>/subagents/agent-<id>.jsonl (later; also
//	    agent-acompact-*, subagents/workflows/** and agent-<id>.meta.json)
//	<root>/stats-cache.json                                  Claude Code's /stats cache
//	<root>/history.jsonl                                     prompts typed
//
// Subagent lines of Claude Code 1.x are inline sidechains in the session
// transcript (isSidechain: true), so they need no path of their own. The
// encoded folder name is the cwd with every non-alphanumeric character
// turned into '-'.
package claude

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/claude-token-monitor/ctm/internal/source"
)

// Names of the environment variables that choose the roots: CLAUDE_DIR is
// ctm's own; Claude Code's CLAUDE_CONFIG_DIR is honoured when it is unset.
// Both are comma-separated lists.
const (
	EnvDir       = "CLAUDE_DIR"
	EnvConfigDir = "CLAUDE_CONFIG_DIR"
)

// File and folder names Claude Code writes in a root.
const (
	ProjectsName   = "projects"
	StatsCacheName = "stats-cache.json"
	HistoryName    = "history.jsonl"
	transcriptExt  = ".jsonl"
	metaExt        = ".meta.json"
	subagentsName  = "subagents"
)

// DefaultRoots returns those of <home>/.claude and <home>/.config/claude
// that exist, or <home>/.claude when neither does, so that a health check
// can name the directory it expected.
func DefaultRoots(home string) []string {
	var dirs []string
	for _, d := range []string{
		filepath.Join(home, ".claude"),
		filepath.Join(home, ".config", "claude"),
	} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		dirs = []string{filepath.Join(home, ".claude")}
	}
	return dirs
}

// ProjectsDir returns the folder of root that holds the transcripts.
func ProjectsDir(root string) string { return filepath.Join(root, ProjectsName) }

// MetaPath returns the agent-<id>.meta.json that describes the subagent
// transcript at path (its agentType), or "" when path is not a subagent
// transcript. The file may not exist: older versions wrote none.
func MetaPath(path string) string {
	base := filepath.Base(path)
	if !strings.HasPrefix(base, "agent-") || !strings.HasSuffix(base, transcriptExt) {
		return ""
	}
	return strings.TrimSuffix(path, transcriptExt) + metaExt
}

// DecodeProjectFolder turns a transcript folder name back into the cwd it
// was made from, as well as it can: Claude Code replaces every
// non-alphanumeric character with '-', so "-Users-me-my-app" becomes
// "/Users/me/my/app". Lines carry the real cwd, which is preferred.
func DecodeProjectFolder(folder string) string {
	return strings.ReplaceAll(folder, "-", "/")
}

// OriginOf describes the transcript at path, which lies under projectsDir
// (a root's projects folder). A path outside projectsDir is described from
// its parent directory and file name.
func OriginOf(projectsDir, path string) source.Origin {
	o := source.Origin{Path: path, MetaPath: MetaPath(path)}
	rel, err := filepath.Rel(projectsDir, path)
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if projectsDir == "" || err != nil || len(parts) < 2 || parts[0] == ".." {
		parts = []string{filepath.Base(filepath.Dir(path)), filepath.Base(path)}
	}
	o.Project = DecodeProjectFolder(parts[0])
	if len(parts) == 2 {
		o.SessionID = strings.TrimSuffix(parts[1], transcriptExt)
	} else {
		o.SessionID = parts[1] // <p>/<sessionId>/subagents/...
	}
	return o
}

// Layout is the Claude Code layout over a set of roots.
type Layout struct {
	roots []string // absolute, distinct

	// mu serialises walks that use the listing cache (listing.go):
	// the file at cachePath, and listings, its content as of the last
	// walk (loaded from the file on the first); base is what the cache
	// file itself holds.
	mu        sync.Mutex
	cachePath string
	listings  map[string]*dirListing
	base      listingBase
}

var _ source.Source = (*Layout)(nil)

// New returns the layout over roots. Roots that cannot be made absolute
// are dropped, and a root given twice is kept once.
func New(roots []string) *Layout {
	l := &Layout{}
	seen := map[string]bool{}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil || seen[abs] {
			continue
		}
		seen[abs] = true
		l.roots = append(l.roots, abs)
	}
	return l
}

// Roots returns the absolute, distinct roots in the order given.
func (l *Layout) Roots() []string { return append([]string(nil), l.roots...) }

// Transcripts returns every .jsonl file under <root>/projects of each root,
// in all layouts: the walk is recursive, so <session>/subagents/ and
// subagents/workflows/ are included. Roots, or their projects folders,
// that do not exist are skipped and logged; an unreadable subdirectory is
// logged and skipped. Regular files and symlinks are listed (a symlink to
// a FIFO or device is the reader's to refuse); links to directories below
// a projects folder are not followed. Transcripts fails only when ctx is
// done.
func (l *Layout) Transcripts(ctx context.Context, logger *slog.Logger) ([]string, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := &walker{ctx: ctx, logger: logger}
	if l.nested() {
		w.seen = map[string]bool{}
	}
	if l.cachePath != "" {
		if l.listings == nil {
			l.listings, l.base = loadListingFiles(l.cachePath)
		}
		w.old, w.next = l.listings, map[string]*dirListing{}
	}
	for _, root := range l.roots {
		dir := ProjectsDir(root)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			logger.Info("skipping claude dir without transcripts", slog.String("dir", dir), slog.Any("error", err))
			continue
		}
		if err := w.walk(dir, true); err != nil {
			return nil, err // only ctx's error
		}
	}
	if w.next != nil && (w.changed || len(w.next) != len(w.old)) {
		l.listings = w.next
		var err error
		if l.base, err = saveListings(l.cachePath, w.next, l.base); err != nil {
			// The next walk lists every folder again; nothing is missed.
			logger.Debug("save listing cache", slog.String("path", l.cachePath), slog.Any("error", err))
		}
	}
	return w.paths, nil
}

// nested reports whether a root's projects folder lies within
// another's, the only way one walk can reach a path twice: below a
// projects folder, links to folders are not followed.
func (l *Layout) nested() bool {
	for i, a := range l.roots {
		for j, b := range l.roots {
			if i != j && within(ProjectsDir(a), ProjectsDir(b)) {
				return true
			}
		}
	}
	return false
}

// Classify returns what path is: a transcript (a .jsonl file anywhere
// under a root's projects folder), a root's stats-cache.json or
// history.jsonl, or Unknown.
func (l *Layout) Classify(path string) source.Kind {
	path = filepath.Clean(path)
	dir, base := filepath.Split(path)
	dir = filepath.Clean(dir)
	for _, r := range l.roots {
		projects := ProjectsDir(r)
		switch {
		case dir == r && base == StatsCacheName:
			return source.StatsCache
		case dir == r && base == HistoryName:
			return source.History
		case strings.HasSuffix(base, transcriptExt) && path != projects && within(projects, path):
			return source.Transcript
		}
	}
	return source.Unknown
}

// Origin describes the transcript at path relative to the root that holds
// it, or from its parent folder and name when no root does.
func (l *Layout) Origin(path string) source.Origin {
	for _, r := range l.roots {
		dir := ProjectsDir(r)
		if within(dir, path) {
			return OriginOf(dir, path)
		}
	}
	return OriginOf("", path)
}

// SessionFiles returns the transcript at path and the subagent transcripts
// Claude Code 2.1+ writes beside it, in <session>/subagents/*.jsonl, when
// path is a .jsonl file inside one of the roots; else nil. The path comes
// from outside (the statusline's stdin), and ctm reads no file it was not
// told to watch. Subagents of 2.0–2.1.1 (agent-<id>.jsonl beside the
// session) name their session only in their lines, so they are not found
// here.
func (l *Layout) SessionFiles(path string) []string {
	if path == "" || filepath.Ext(path) != transcriptExt {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	inside := false
	for _, r := range l.roots {
		if within(r, abs) {
			inside = true
			break
		}
	}
	if !inside {
		return nil
	}
	paths := []string{abs}
	sub, _ := filepath.Glob(filepath.Join(strings.TrimSuffix(abs, transcriptExt), subagentsName, "*"+transcriptExt))
	return append(paths, sub...)
}

// StatsCachePath returns the stats-cache.json of the first root that has
// one, else the first root's, so that the file is picked up once Claude
// Code writes it; "" without roots.
func (l *Layout) StatsCachePath() string {
	if len(l.roots) == 0 {
		return ""
	}
	for _, r := range l.roots {
		p := filepath.Join(r, StatsCacheName)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join(l.roots[0], StatsCacheName)
}

// WatchDirs returns root's projects folder, whose whole tree holds
// transcripts, and the files at the top of root that Classify knows.
func (l *Layout) WatchDirs(root string) (tree string, topFiles []string) {
	return ProjectsDir(root), []string{filepath.Join(root, StatsCacheName), filepath.Join(root, HistoryName)}
}

// within reports whether path is dir or below it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel) // "." is local
}
