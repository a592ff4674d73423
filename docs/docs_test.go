package docs

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/claude-token-monitor/ctm/"

// actualMap returns, for every package of the module, the internal
// packages its non-test files import, read from the source.
func actualMap(t *testing.T) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != ".." && (name == "testdata" || strings.HasPrefix(name, ".")) {
			return fs.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here, or only tests
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, ".."+string(filepath.Separator)))
		if rel == "docs" {
			return nil
		}
		var imps []string
		for _, imp := range pkg.Imports {
			if p, ok := strings.CutPrefix(imp, module); ok {
				imps = append(imps, p)
			}
		}
		slices.Sort(imps)
		got[rel] = imps
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// documentedMap reads the package map table of architecture.md.
func documentedMap(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "<!-- package map: begin -->")
	end := strings.Index(s, "<!-- package map: end -->")
	if start < 0 || end < start {
		t.Fatal("architecture.md has no package map markers")
	}
	code := regexp.MustCompile("`([^`]+)`")
	doc := map[string][]string{}
	for _, line := range strings.Split(s[start:end], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		var imps []string
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			imps = append(imps, m[1])
		}
		slices.Sort(imps)
		doc[name] = imps
	}
	return doc
}

func TestPackageMap(t *testing.T) {
	got, doc := actualMap(t), documentedMap(t)
	if len(got) < 10 {
		t.Fatalf("found only %d packages in the source: %v", len(got), got)
	}
	for pkg, imps := range got {
		want, ok := doc[pkg]
		switch {
		case !ok:
			t.Errorf("architecture.md's package map lacks %s (imports %v)", pkg, imps)
		case !slices.Equal(imps, want):
			t.Errorf("%s imports %v, architecture.md says %v", pkg, imps, want)
		}
	}
	for pkg := range doc {
		if _, ok := got[pkg]; !ok {
			t.Errorf("architecture.md's package map names %s, which has no Go code", pkg)
		}
	}
}

// TestDocsStandAlone checks that every page is linked from the index and
// the index from the README, that relative links resolve, and that no page
// leans on files outside the repository.
func TestDocsStandAlone(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "(docs/README.md)") {
		t.Error("README.md does not link docs/README.md")
	}
	index, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)#]*)(#[^)]*)?\)`)
	for _, p := range pages {
		if p != "README.md" && !strings.Contains(string(index), "("+p+")") {
			t.Errorf("docs/README.md does not link %s", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"../shared", "DESIGN.md", "STYLE.md"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s refers to %s, which is not part of the repository", p, bad)
			}
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if target == "" || strings.Contains(target, "://") {
				continue
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s links %s: %v", p, target, err)
			}
		}
	}
}
