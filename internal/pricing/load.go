package pricing

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Options says which price files to read besides the embedded one.
type Options struct {
	// Refreshed is the path of the copy `ctm prices update` keeps in the
	// data directory. It replaces the embedded table when it exists and its
	// as_of is newer.
	Refreshed string
	// UserFile (PRICING_FILE) adds entries or replaces entries of the same
	// id, whole, and may set the web search, web fetch and batch figures.
	UserFile string
}

// Load returns the price table in force: the embedded one or a newer
// refreshed copy, extended by the user file. A file that cannot be read or
// is invalid is an error naming the file and the entry at fault.
func Load(opts Options) (*Table, error) {
	base, err := parseFull(embedded)
	if err != nil {
		// The embedded file is tested; this only guards against a bad edit.
		return nil, fmt.Errorf("embedded prices.json: %w", err)
	}
	if opts.Refreshed != "" {
		data, err := os.ReadFile(opts.Refreshed)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("refreshed prices %q: %w", opts.Refreshed, err)
		default:
			fresh, err := parseFull(data)
			if err != nil {
				return nil, fmt.Errorf("refreshed prices %q: %w (delete it, or run `ctm prices update` again)", opts.Refreshed, err)
			}
			if fresh.AsOf > base.AsOf {
				for _, m := range fresh.models {
					m.Origin = FromRefreshed
				}
				base = fresh
			}
		}
	}
	if opts.UserFile == "" {
		return base, nil
	}
	data, err := os.ReadFile(opts.UserFile)
	if err != nil {
		return nil, fmt.Errorf("pricing file %q: %w", opts.UserFile, err)
	}
	t, err := overlay(base, data)
	if err != nil {
		return nil, fmt.Errorf("pricing file %q: %w", opts.UserFile, err)
	}
	return t, nil
}

// Parse validates a complete price file (format 2 with as_of, the web
// search, web fetch and batch figures and at least one model) and returns
// its table, as `ctm prices update` does before it keeps a download.
func Parse(data []byte) (*Table, error) { return parseFull(data) }

func parseFull(data []byte) (*Table, error) {
	f, err := decodeFile(data)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Format != 2:
		return nil, fmt.Errorf("format %d: want 2", f.Format)
	case f.AsOf == "":
		return nil, errors.New("as_of is missing")
	case f.WebSearchPer1K == nil:
		return nil, errors.New("web_search_per_1k is missing")
	case f.WebFetchPer1K == nil:
		return nil, errors.New("web_fetch_per_1k is missing")
	case f.Batch == nil:
		return nil, errors.New("batch is missing")
	case len(f.Models) == 0:
		return nil, errors.New("models is empty")
	}
	return build(f, nil, FromEmbedded)
}

// overlay applies a user file to base.
func overlay(base *Table, data []byte) (*Table, error) {
	f, err := decodeFile(data)
	if err != nil {
		return nil, err
	}
	if f.Format != 0 && f.Format != 2 {
		return nil, fmt.Errorf("format %d: want 2 (or none, for a file of the first release)", f.Format)
	}
	return build(f, base, FromUserFile)
}

// build validates f and makes a table of it, on top of base when set.
func build(f *fileJSON, base *Table, origin Origin) (*Table, error) {
	var (
		asOf, source               string
		webSearch, webFetch, batch micros
		models                     = map[string]*Model{}
	)
	if base != nil {
		asOf, source = base.AsOf, base.Source
		webSearch, webFetch, batch = base.webSearch, base.webFetch, base.batch
		// Copies: newTable prepares each model for its own batch figure.
		for id, m := range base.models {
			c := *m
			c.Periods = slices.Clone(m.Periods)
			models[id] = &c
		}
	}
	if f.AsOf != "" {
		if _, err := parseDay("as_of", f.AsOf); err != nil {
			return nil, err
		}
		if f.AsOf > asOf {
			asOf = f.AsOf
		}
	}
	if f.Source != "" {
		source = f.Source
	}
	for _, fig := range []struct {
		name string
		in   *json.Number
		out  *micros
	}{
		{"web_search_per_1k", f.WebSearchPer1K, &webSearch},
		{"web_fetch_per_1k", f.WebFetchPer1K, &webFetch},
	} {
		if fig.in != nil {
			v, err := parseMicros(*fig.in)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fig.name, err)
			}
			*fig.out = v
		}
	}
	if f.Batch != nil {
		v, err := multiplier("batch", *f.Batch)
		if err != nil {
			return nil, err
		}
		batch = v
	}
	own := map[string]bool{}
	for key, e := range f.Models {
		id := Normalize(key)
		if id == "" {
			return nil, fmt.Errorf("model %q: empty model id", key)
		}
		if own[id] {
			return nil, fmt.Errorf("model %q: id %q is listed twice", key, id)
		}
		own[id] = true
		if e == nil {
			return nil, fmt.Errorf("model %q: null entry", key)
		}
		m, err := e.model(id)
		if err != nil {
			return nil, fmt.Errorf("model %q: %w", key, err)
		}
		m.Origin = origin
		models[id] = m
	}
	t, err := newTable(asOf, source, webSearch, webFetch, batch, models)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// usageErrorf is a bad-input error of a price file.
func usageErrorf(format string, args ...any) error {
	return usage.Errorf(usage.EINVALID, format, args...)
}
