package claude

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/source"
)

// corpus returns the real Claude Code data directory name (claude-real or
// claude-real-2026) of ../shared/testdata beside the repository, or of
// CTM_SHARED_TESTDATA, and skips when it is not there: a clone on its own
// has no shared corpus.
func corpus(t *testing.T, name string) string {
	t.Helper()
	base := os.Getenv("CTM_SHARED_TESTDATA")
	if base == "" {
		base = filepath.Join("..", "..", "..", "..", "shared", "testdata")
	}
	dir, err := filepath.Abs(filepath.Join(base, name))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, ProjectsName)); err != nil || !fi.IsDir() {
		t.Skipf("real corpus not found at %s (set CTM_SHARED_TESTDATA to the shared testdata folder)", dir)
	}
	return dir
}

// walkFiles lists the files under dir whose names end in suffix, by a walk
// of its own, so that the layout is checked against the tree itself.
func walkFiles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, suffix) {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestTranscriptsRealCorpora(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		transcripts, subagent int
	}{
		// PROVENANCE: 25 transcripts, 7 of them subagents (6 in
		// <session>/subagents/, one agent-<id>.jsonl beside its session).
		{"claude-real", 25, 7},
		// 5 sessions and 18 subagents of one session, each with a .meta.json.
		{"claude-real-2026", 23, 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := corpus(t, tc.name)
			got, err := New([]string{root}).Transcripts(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := walkFiles(t, ProjectsDir(root), ".jsonl")
			if len(got) != tc.transcripts || !slices.Equal(sorted(got), sorted(want)) {
				t.Fatalf("Transcripts = %d files %v, want %d: %v", len(got), got, tc.transcripts, want)
			}
			subagents := 0
			for _, p := range got {
				if strings.HasSuffix(p, metaExt) || !filepath.IsAbs(p) {
					t.Errorf("Transcripts lists %s", p)
				}
				if MetaPath(p) != "" {
					subagents++
				}
			}
			if subagents != tc.subagent {
				t.Errorf("subagent transcripts = %d, want %d", subagents, tc.subagent)
			}
		})
	}
}

func TestTranscriptsNestedRoots(t *testing.T) {
	// A root inside another's projects folder: the outer walk reaches its
	// transcripts too, and each must still be listed once.
	outer := t.TempDir()
	inner := filepath.Join(ProjectsDir(outer), "p", "backup")
	for _, f := range []string{
		filepath.Join(ProjectsDir(outer), "p", "a.jsonl"),
		filepath.Join(ProjectsDir(inner), "q", "b.jsonl"),
	} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, roots := range [][]string{{outer, inner}, {inner, outer}} {
		got, err := New(roots).Transcripts(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || len(slices.Compact(sorted(got))) != 2 {
			t.Errorf("Transcripts over %v = %v, want a.jsonl and b.jsonl once each", roots, got)
		}
	}
}

func TestTranscriptsOverlappingRoots(t *testing.T) {
	a, b := corpus(t, "claude-real"), corpus(t, "claude-real-2026")
	l := New([]string{a, b, a, filepath.Join(b, ".")})
	if got := l.Roots(); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("Roots = %v, want [%s %s]", got, a, b)
	}
	got, err := l.Transcripts(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 25+23 {
		t.Errorf("Transcripts over both corpora = %d files, want 48", len(got))
	}
	if distinct := slices.Compact(sorted(got)); len(distinct) != len(got) {
		t.Errorf("Transcripts lists a file twice: %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Transcripts(ctx, nil); err == nil {
		t.Error("Transcripts with a done context succeeded, want its error")
	}
}

func TestClassifyRealCorpus(t *testing.T) {
	root := corpus(t, "claude-real")
	root26 := corpus(t, "claude-real-2026")
	l := New([]string{root, root26})
	cases := map[string]source.Kind{
		filepath.Join(root, "stats-cache.json"):                        source.StatsCache,
		filepath.Join(root, "history.jsonl"):                           source.History,
		filepath.Join(root26, "stats-cache.json"):                      source.StatsCache, // not written yet, still its place
		ProjectsDir(root):                                              source.Unknown,
		filepath.Join(root, "other.jsonl"):                             source.Unknown, // top level, not under projects
		filepath.Join(ProjectsDir(root), "history.jsonl"):              source.Transcript,
		filepath.Join(filepath.Dir(root), "claude-real.expected.json"): source.Unknown,
		"/elsewhere/projects/-p/s.jsonl":                               source.Unknown,
	}
	for _, p := range walkFiles(t, root, ".jsonl") {
		if filepath.Base(p) != HistoryName {
			cases[p] = source.Transcript
		}
	}
	for _, p := range walkFiles(t, root26, "") {
		if strings.HasSuffix(p, metaExt) {
			cases[p] = source.Unknown
		} else {
			cases[p] = source.Transcript
		}
	}
	for p, want := range cases {
		if got := l.Classify(p); got != want {
			t.Errorf("Classify(%s) = %v, want %v", p, got, want)
		}
	}
}

func TestOriginRealCorpus(t *testing.T) {
	root := corpus(t, "claude-real")
	root26 := corpus(t, "claude-real-2026")
	l := New([]string{root, root26})
	for _, tc := range []struct {
		rel, session, project string
	}{
		{"claude-real/projects/-tmp-test/d4795640-2a89-4fa4-92fb-29e4e357bebf.jsonl",
			"d4795640-2a89-4fa4-92fb-29e4e357bebf", "/tmp/test"},
		// 2.1+: a subagent belongs to the session folder it lies in.
		{"claude-real/projects/-home-mike-grl-ASG/c4ff1d42-39e1-45f3-987e-a67d6644224e/subagents/agent-ae809da.jsonl",
			"c4ff1d42-39e1-45f3-987e-a67d6644224e", "/home/mike/grl/ASG"},
		{"claude-real/projects/-Users-tachikawa-eiji-EijiCode-UTAGE3-0-utage3/3f9394bc-70f6-4f13-94dc-ed96be3799eb/subagents/agent-acompact-b7234e.jsonl",
			"3f9394bc-70f6-4f13-94dc-ed96be3799eb", "/Users/tachikawa/eiji/EijiCode/UTAGE3/0/utage3"},
		// 2.0–2.1.1: the path names only the agent; its lines name the session.
		{"claude-real/projects/-Users-roberdan-GitHub-ConvergioEdu/agent-a0d2168.jsonl",
			"agent-a0d2168", "/Users/roberdan/GitHub/ConvergioEdu"},
		{"claude-real-2026/projects/D--Dropbox-Claude-NM/0f7be0fc-fb94-43d9-a2d2-8c88f54e79fa/subagents/agent-a166f90e55824332f.jsonl",
			"0f7be0fc-fb94-43d9-a2d2-8c88f54e79fa", "D//Dropbox/Claude/NM"},
	} {
		p := filepath.Join(filepath.Dir(root), filepath.FromSlash(tc.rel))
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("corpus changed: %v", err)
		}
		got := l.Origin(p)
		if got.Path != p || got.SessionID != tc.session || got.Project != tc.project {
			t.Errorf("Origin(%s) = %+v, want session %q project %q", tc.rel, got, tc.session, tc.project)
		}
	}
	// Outside every root the parent folder and name still say something.
	got := l.Origin("/x/projects/-srv-app/abc.jsonl")
	if got.SessionID != "abc" || got.Project != "/srv/app" {
		t.Errorf("Origin outside the roots = %+v, want session abc project /srv/app", got)
	}
}

func TestSessionFilesRealCorpora(t *testing.T) {
	root := corpus(t, "claude-real")
	root26 := corpus(t, "claude-real-2026")
	l := New([]string{root, root26})
	for _, tc := range []struct {
		session   string
		subagents int
	}{
		{filepath.Join(ProjectsDir(root), "-Users-tachikawa-eiji-EijiCode-UTAGE3-0-utage3", "840d4a87-a388-496a-b744-1667ef929002.jsonl"), 2},
		{filepath.Join(ProjectsDir(root26), "D--Dropbox-Claude-NM", "0f7be0fc-fb94-43d9-a2d2-8c88f54e79fa.jsonl"), 18},
		{filepath.Join(ProjectsDir(root), "-tmp-test", "d4795640-2a89-4fa4-92fb-29e4e357bebf.jsonl"), 0},
	} {
		got := l.SessionFiles(tc.session)
		if len(got) != 1+tc.subagents || got[0] != tc.session {
			t.Errorf("SessionFiles(%s) = %v, want it and %d subagents", tc.session, got, tc.subagents)
			continue
		}
		dir := filepath.Join(strings.TrimSuffix(tc.session, ".jsonl"), subagentsName)
		for _, p := range got[1:] {
			if filepath.Dir(p) != dir || !strings.HasSuffix(p, ".jsonl") || strings.HasSuffix(p, metaExt) {
				t.Errorf("SessionFiles(%s) lists %s", tc.session, p)
			}
		}
	}
	outside := filepath.Join(t.TempDir(), "s.jsonl")
	for _, p := range []string{"", outside, filepath.Join(root, "stats-cache.json")} {
		if got := l.SessionFiles(p); got != nil {
			t.Errorf("SessionFiles(%q) = %v, want nil", p, got)
		}
	}
}

func TestMetaPathRealCorpus(t *testing.T) {
	root := corpus(t, "claude-real-2026")
	metas := walkFiles(t, root, metaExt)
	if len(metas) != 18 {
		t.Fatalf("corpus has %d .meta.json files, want 18", len(metas))
	}
	described := map[string]bool{}
	transcripts, err := New([]string{root}).Transcripts(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range transcripts {
		m := MetaPath(p)
		if m == "" {
			continue
		}
		if _, err := os.Stat(m); err != nil {
			t.Errorf("MetaPath(%s) = %s, which does not exist", p, m)
		}
		described[m] = true
	}
	for _, m := range metas {
		if !described[m] {
			t.Errorf("%s describes no transcript Transcripts lists", m)
		}
	}
	for _, p := range []string{
		filepath.Join(ProjectsDir(root), "D--Dropbox-Claude-NM", "0f7be0fc-fb94-43d9-a2d2-8c88f54e79fa.jsonl"),
		filepath.Join(root, "history.jsonl"),
	} {
		if got := MetaPath(p); got != "" {
			t.Errorf("MetaPath(%s) = %q, want \"\" for a non-subagent file", p, got)
		}
	}
}

func TestStatsCachePath(t *testing.T) {
	root := corpus(t, "claude-real")
	root26 := corpus(t, "claude-real-2026") // has no stats-cache.json
	for _, tc := range []struct {
		roots []string
		want  string
	}{
		{[]string{root}, filepath.Join(root, StatsCacheName)},
		{[]string{root26, root}, filepath.Join(root, StatsCacheName)},
		{[]string{root26}, filepath.Join(root26, StatsCacheName)},
		{nil, ""},
	} {
		if got := New(tc.roots).StatsCachePath(); got != tc.want {
			t.Errorf("StatsCachePath(%v) = %q, want %q", tc.roots, got, tc.want)
		}
	}
}

// TestWorkflowsLayout covers subagents/workflows/**, which neither real
// corpus holds.
func TestWorkflowsLayout(t *testing.T) {
	root := t.TempDir()
	session := filepath.Join(ProjectsDir(root), "-srv-app", "s1.jsonl")
	flow := filepath.Join(ProjectsDir(root), "-srv-app", "s1", subagentsName, "workflows", "w1", "agent-x.jsonl")
	for _, p := range []string{session, flow} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := New([]string{root})
	got, err := l.Transcripts(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sorted(got), sorted([]string{session, flow})) {
		t.Errorf("Transcripts = %v, want [%s %s]", got, session, flow)
	}
	if k := l.Classify(flow); k != source.Transcript {
		t.Errorf("Classify(workflow agent) = %v, want transcript", k)
	}
	if o := l.Origin(flow); o.SessionID != "s1" || o.Project != "/srv/app" {
		t.Errorf("Origin(workflow agent) = %+v, want session s1 project /srv/app", o)
	}
	tree, top := l.WatchDirs(l.Roots()[0])
	if tree != ProjectsDir(root) || !slices.Equal(top, []string{filepath.Join(root, StatsCacheName), filepath.Join(root, HistoryName)}) {
		t.Errorf("WatchDirs = %s %v", tree, top)
	}
}

func TestDefaultRoots(t *testing.T) {
	home := t.TempDir()
	if got, want := DefaultRoots(home), []string{filepath.Join(home, ".claude")}; !slices.Equal(got, want) {
		t.Errorf("DefaultRoots with neither = %v, want %v", got, want)
	}
	xdg := filepath.Join(home, ".config", "claude")
	if err := os.MkdirAll(xdg, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := DefaultRoots(home); !slices.Equal(got, []string{xdg}) {
		t.Errorf("DefaultRoots with ~/.config/claude = %v, want [%s]", got, xdg)
	}
	if err := os.Mkdir(filepath.Join(home, ".claude"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, want := DefaultRoots(home), []string{filepath.Join(home, ".claude"), xdg}; !slices.Equal(got, want) {
		t.Errorf("DefaultRoots with both = %v, want %v", got, want)
	}
}
