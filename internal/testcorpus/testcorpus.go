// Package testcorpus gives tests the real Claude Code corpus that lives in
// the shared testdata folder beside the repository, indexed once per test
// binary by the real ingester into a real SQLite database.
package testcorpus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
)

// Corpus is the indexed corpus.
type Corpus struct {
	// Root is the corpus directory (a Claude data directory), absolute.
	Root   string
	Store  *sqlite.Store
	Prices *pricing.Table
}

// Main runs the package's tests over the corpus at root (relative to the
// package), after decoding root+".expected.json" into expected and
// calling ready, if set, with the indexed corpus. Without the corpus no
// test of the package can run: it says where the corpus would be and
// exits 0, so a clone without the shared folder still passes.
func Main(m *testing.M, pkg, root string, expected any, ready func(*Corpus) error) {
	abs, err := filepath.Abs(root)
	if err == nil {
		_, err = os.Stat(abs + ".expected.json")
	}
	if err != nil {
		fmt.Printf("skipping the tests of package %s: the real corpus is not at %s (the shared testdata folder beside the repository)\n", pkg, abs)
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "ctm-"+pkg+"-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	c, err := open(dir, abs, expected)
	if err == nil && ready != nil {
		err = ready(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
	} else {
		code = m.Run()
	}
	if c != nil {
		_ = c.Store.Close()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func open(dir, root string, expected any) (*Corpus, error) {
	raw, err := os.ReadFile(root + ".expected.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, expected); err != nil {
		return nil, fmt.Errorf("%s.expected.json: %w", root, err)
	}
	c := &Corpus{Root: root}
	if c.Prices, err = pricing.Load(pricing.Options{}); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if c.Store, err = sqlite.Open(ctx, filepath.Join(dir, "corpus.db"), storetest.Prices); err != nil {
		return nil, err
	}
	// The real ingester, as ctm serve runs it.
	if _, err := ingest.New(c.Store, []string{root}, slog.New(slog.DiscardHandler), ingest.Options{}).Run(ctx); err != nil {
		_ = c.Store.Close()
		return nil, err
	}
	return c, nil
}
