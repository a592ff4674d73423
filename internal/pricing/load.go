package pricing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
)

// file is the JSON format of prices.json and of a user pricing file.
type file struct {
	// WebSearchPer1K is the USD price of 1,000 web search requests; a user
	// file that leaves it out keeps the embedded price.
	WebSearchPer1K *float64         `json:"web_search_per_1k"`
	Models         map[string]Price `json:"models"`
}

// Load returns the embedded price table, extended by userFile when it is not
// empty. Each model in the user file adds a price or replaces the embedded
// price of the same (normalised) id as a whole. A user file that cannot be
// read, is not valid JSON, has an unknown field, an empty model id or a
// negative price gives an error naming the file and the problem.
func Load(userFile string) (*Table, error) {
	base, err := parse(embedded)
	if err == nil && base.WebSearchPer1K == nil {
		err = errors.New("web_search_per_1k is missing")
	}
	if err != nil {
		// The embedded file is tested; this only guards against a bad edit.
		return nil, fmt.Errorf("embedded prices.json: %w", err)
	}
	prices := base.Models
	webSearch := *base.WebSearchPer1K
	if userFile != "" {
		data, err := os.ReadFile(userFile)
		if err != nil {
			return nil, fmt.Errorf("pricing file %q: %w", userFile, err)
		}
		user, err := parse(data)
		if err != nil {
			return nil, fmt.Errorf("pricing file %q: %w", userFile, err)
		}
		maps.Copy(prices, user.Models)
		if user.WebSearchPer1K != nil {
			webSearch = *user.WebSearchPer1K
		}
	}
	return newTable(webSearch, prices), nil
}

// parse decodes and validates one price file. Model ids are normalised so
// that a user may write "claude-opus-4.5" or "anthropic/claude-opus-4-5".
func parse(data []byte) (file, error) {
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, decodeError(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return f, errors.New("unexpected data after the JSON object")
	}
	if f.WebSearchPer1K != nil {
		if err := checkRate("web_search_per_1k", *f.WebSearchPer1K); err != nil {
			return f, err
		}
	}
	models := make(map[string]Price, len(f.Models))
	for key, p := range f.Models {
		id := Normalize(key)
		if id == "" {
			return f, fmt.Errorf("model %q: empty model id", key)
		}
		if _, dup := models[id]; dup {
			return f, fmt.Errorf("model %q: id %q is listed twice", key, id)
		}
		if err := p.validate(); err != nil {
			return f, fmt.Errorf("model %q: %w", key, err)
		}
		p.ID = id
		models[id] = p
	}
	f.Models = models
	return f, nil
}

// decodeError adds the line number to JSON syntax and type errors, which
// otherwise only carry a byte offset.
func decodeError(data []byte, err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		offset int64 = -1
	)
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	case errors.Is(err, io.EOF):
		return errors.New("empty file, want a JSON object")
	}
	if offset < 0 {
		return fmt.Errorf("bad JSON: %w", err)
	}
	line := 1 + bytes.Count(data[:min(offset, int64(len(data)))], []byte("\n"))
	return fmt.Errorf("bad JSON at line %d: %w", line, err)
}

func (p Price) validate() error {
	if err := p.Rates.validate(""); err != nil {
		return err
	}
	if lc := p.LongContext; lc != nil {
		if lc.Threshold <= 0 {
			return fmt.Errorf("long_context.threshold %d must be positive", lc.Threshold)
		}
		if err := lc.Rates.validate("long_context."); err != nil {
			return err
		}
	}
	return nil
}

func (r Rates) validate(prefix string) error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"input", r.Input},
		{"output", r.Output},
		{"cache_write_5m", r.CacheWrite5m},
		{"cache_write_1h", r.CacheWrite1h},
		{"cache_read", r.CacheRead},
	} {
		if err := checkRate(prefix+f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

func checkRate(name string, v float64) error {
	if v < 0 {
		return fmt.Errorf("%s price %v must not be negative", name, v)
	}
	return nil
}
