package views

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// A report's JSON is written member by member rather than by reflection:
// building the rows, marshalling them through reflect and indenting the
// result took about a millisecond of a 10 ms `ctm daily --json` on an
// unchanged tree, most of it reflect's first use of the types in a new
// process. The bytes are those encoding/json gives (map keys sorted,
// HTML-safe strings, its float format, json.Encoder's indentation);
// reportjson_test.go holds the reflection-based encoding and compares the
// two on every report kind.

// AppendJSON appends the report's JSON, as MarshalJSON returns it, to dst.
// With indent "" it is compact; otherwise each member is on a line of its
// own, indented by indent per level, as json.Encoder.SetIndent("", indent)
// writes it (without its final newline). A cost ratio that is not a
// finite number is an error, as encoding/json makes it.
func (r *Report) AppendJSON(dst []byte, indent string) ([]byte, error) {
	w := jsonWriter{b: dst, indent: indent}
	w.open('{')
	// encoding/json sorts a map's keys: the list key comes before or
	// after "totals" and "unpriced_models" by name.
	members := []string{r.Kind.ListKey, "totals", "unpriced_models"}
	switch {
	case r.Kind.ListKey > "unpriced_models":
		members = []string{"totals", "unpriced_models", r.Kind.ListKey}
	case r.Kind.ListKey > "totals":
		members = []string{"totals", r.Kind.ListKey, "unpriced_models"}
	}
	for _, m := range members {
		w.key(m)
		switch m {
		case r.Kind.ListKey:
			w.open('[')
			for i := range r.Groups {
				w.elem()
				r.appendRow(&w, &r.Groups[i])
			}
			w.close(']')
		case "totals":
			w.open('{')
			w.aggregate(&r.Totals.Aggregate)
			w.models(&r.Totals, r.Breakdown)
			w.close('}')
		default:
			w.open('[')
			for _, name := range r.Unpriced {
				w.elem()
				w.str(name)
			}
			w.close(']')
		}
	}
	w.close('}')
	if w.err != nil {
		return dst, w.err
	}
	return w.b, nil
}

// appendRow writes one row as ReportRow marshals.
func (r *Report) appendRow(w *jsonWriter, g *usage.Group) {
	w.open('{')
	if g.Key != "" {
		w.key(r.Kind.KeyName)
		w.str(g.Key)
	}
	if r.Kind.KeyName == "session_id" && g.Project != "" {
		w.key("project")
		w.str(g.Project)
	}
	if r.Kind.Sortable() {
		w.key("first_activity")
		w.time(g.First.In(r.loc))
		w.key("last_activity")
		w.time(g.Last.In(r.loc))
	}
	w.aggregate(&g.Aggregate)
	if r.Kind.KeyName == "session_id" && r.splits != nil {
		var sp AgentSplit
		if p := r.splits[g.Key]; p != nil {
			sp = *p
		}
		w.key("cost_main_usd")
		w.money(sp.CostMainUSD)
		w.key("cost_subagents_usd")
		w.money(sp.CostSubagentsUSD)
	}
	w.models(g, r.Breakdown)
	w.close('}')
}

// jsonWriter appends JSON to b, tracking the indentation. Its methods
// write a member's key (key) or an array element's separator (elem),
// then a value.
type jsonWriter struct {
	b      []byte
	indent string
	depth  int
	// empty is whether the innermost open object or array has no member
	// yet.
	empty bool
	err   error
}

func (w *jsonWriter) open(c byte) {
	w.b = append(w.b, c)
	w.depth++
	w.empty = true
}

func (w *jsonWriter) close(c byte) {
	w.depth--
	if !w.empty {
		w.newline()
	}
	w.b = append(w.b, c)
	w.empty = false
}

func (w *jsonWriter) newline() {
	if w.indent == "" {
		return
	}
	w.b = append(w.b, '\n')
	for range w.depth {
		w.b = append(w.b, w.indent...)
	}
}

// elem starts an array element.
func (w *jsonWriter) elem() {
	if !w.empty {
		w.b = append(w.b, ',')
	}
	w.empty = false
	w.newline()
}

// key starts an object member.
func (w *jsonWriter) key(k string) {
	w.elem()
	w.b = appendJSONString(w.b, k)
	w.b = append(w.b, ':')
	if w.indent != "" {
		w.b = append(w.b, ' ')
	}
}

func (w *jsonWriter) str(s string)        { w.b = appendJSONString(w.b, s) }
func (w *jsonWriter) int(v int64)         { w.b = strconv.AppendInt(w.b, v, 10) }
func (w *jsonWriter) money(m usage.Money) { w.b = append(w.b, m.String()...) }

func (w *jsonWriter) time(t time.Time) {
	w.b = append(w.b, '"')
	w.b = t.AppendFormat(w.b, time.RFC3339)
	w.b = append(w.b, '"')
}

// float writes f as encoding/json does: the shortest decimal that reads
// back as f, in exponent form only below 1e-6 or from 1e21, with a
// one-digit negative exponent unpadded (1e-7, not 1e-07).
func (w *jsonWriter) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		if w.err == nil {
			w.err = fmt.Errorf("report JSON: unsupported value %v", f)
		}
		w.b = append(w.b, '0')
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, format, -1, 64)
	if format == 'e' {
		if n := len(w.b); n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
}

// aggregate writes the members of a usage.Aggregate, in its field order.
func (w *jsonWriter) aggregate(a *usage.Aggregate) {
	for _, m := range [...]struct {
		name string
		v    int64
	}{
		{"input_tokens", a.Input},
		{"output_tokens", a.Output},
		{"cache_creation_5m_tokens", a.CacheCreation5m},
		{"cache_creation_1h_tokens", a.CacheCreation1h},
		{"cache_read_tokens", a.CacheRead},
		{"web_search_requests", a.WebSearchRequests},
		{"web_fetch_requests", a.WebFetchRequests},
		{"cache_creation_tokens", a.CacheCreationTokens},
		{"total_tokens", a.TotalTokens},
	} {
		w.key(m.name)
		w.int(m.v)
	}
	w.key("cache_hit_rate")
	w.float(a.CacheHitRate)
	w.key("cost_usd")
	w.money(a.CostUSD)
	w.key("entries")
	w.int(a.Entries)
}

// models writes a group's model names and, with breakdown, its per-model
// figures (omitted when there are none, as omitempty does).
func (w *jsonWriter) models(g *usage.Group, breakdown bool) {
	w.key("models")
	w.open('[')
	for i := range g.Models {
		w.elem()
		w.str(g.Models[i].Model)
	}
	w.close(']')
	if !breakdown || len(g.Models) == 0 {
		return
	}
	w.key("model_breakdowns")
	w.open('[')
	for i := range g.Models {
		m := &g.Models[i]
		w.elem()
		w.open('{')
		w.key("model")
		w.str(m.Model)
		w.aggregate(&m.Aggregate)
		w.close('}')
	}
	w.close(']')
}

// appendJSONString appends s as encoding/json writes a string with HTML
// escaping on (its default): <, > and & as \u003c, \u003e and \u0026,
// U+2028 and U+2029 escaped, and each byte of invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
