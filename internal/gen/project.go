package gen

import (
	"strconv"
	"strings"
)

// project is one working directory with its transcript folder.
type project struct {
	cwd    string
	folder string // encoded cwd, the folder name under projects/
	weight int
	branch []string
	resume *resumePrefix // first lines of the latest captured session
}

var (
	projectRoots = []string{"/Users/alex", "/Users/sam.lee", "/home/jo", "/home/dev_ops", "/mnt/c/Users/pat"}
	projectDirs  = []string{"", "src", "dev", "work/repos", "Documents/GitHub", "code"}
	projectNames = []string{
		"billing-api", "web.app", "ctm", "infra_tools", "ml-pipeline", "dotfiles", "mobile-client",
		"search.service", "docs-site", "payments", "auth_gateway", "data-lake", "game-engine",
		"cli", "notebooks", "landing-page", "etl.jobs", "monorepo", "scheduler", "chat-bot",
		"analytics", "k8s-config", "design-system", "blog", "rust-parser", "api.v2", "crm",
		"video_encoder", "ledger", "sandbox",
	}
	branches = []string{"main", "main", "develop", "feature/login", "fix/cache-bug", "release-2.3", ""}
	slugWord = [3][]string{
		{"witty", "harmonic", "hidden", "dynamic", "abundant", "refactored", "quiet", "brisk", "gentle", "lucky"},
		{"conjuring", "skipping", "wobbling", "wondering", "crunching", "sprouting", "humming", "drifting"},
		{"hedgehog", "hollerith", "peach", "shore", "nest", "planet", "otter", "lantern", "falcon", "maple"},
	}
)

// encodeFolder turns a cwd into Claude Code's folder name: every character
// that is not an ASCII letter or digit becomes '-'.
func encodeFolder(cwd string) string {
	b := []byte(cwd)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

func (g *generator) newProjects(n int) []*project {
	seen := map[string]bool{}
	ps := make([]*project, 0, n)
	for i := range n {
		root := projectRoots[g.rng.IntN(len(projectRoots))]
		dir := projectDirs[g.rng.IntN(len(projectDirs))]
		name := projectNames[i%len(projectNames)]
		if i >= len(projectNames) {
			name += "-" + strconv.Itoa(i/len(projectNames))
		}
		cwd := strings.TrimSuffix(root+"/"+dir, "/") + "/" + name
		for seen[encodeFolder(cwd)] {
			cwd += "2"
		}
		seen[encodeFolder(cwd)] = true
		p := &project{
			cwd:    cwd,
			folder: encodeFolder(cwd),
			// A few busy projects and a long tail, as real usage looks.
			weight: 1 + int(logUniform(g.rng, 1, 40)),
			branch: []string{branches[g.rng.IntN(len(branches))], branches[g.rng.IntN(len(branches))]},
		}
		ps = append(ps, p)
	}
	return ps
}

func (g *generator) pickProject() *project {
	total := 0
	for _, p := range g.projects {
		total += p.weight
	}
	k := g.rng.IntN(total)
	for _, p := range g.projects {
		if k < p.weight {
			return p
		}
		k -= p.weight
	}
	return g.projects[len(g.projects)-1]
}

func (g *generator) slug() string {
	return slugWord[0][g.rng.IntN(len(slugWord[0]))] + "-" +
		slugWord[1][g.rng.IntN(len(slugWord[1]))] + "-" +
		slugWord[2][g.rng.IntN(len(slugWord[2]))]
}
