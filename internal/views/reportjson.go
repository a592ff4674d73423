package views

import (
	"fmt"
	"time"

	"github.com/claude-token-monitor/ctm/internal/jsontext"
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
	w := jsontext.Writer{B: dst, Indent: indent}
	w.Open('{')
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
		w.Key(m)
		switch m {
		case r.Kind.ListKey:
			w.Open('[')
			for i := range r.Groups {
				w.Elem()
				r.appendRow(&w, &r.Groups[i])
			}
			w.Close(']')
		case "totals":
			w.Open('{')
			writeAggregate(&w, &r.Totals.Aggregate)
			writeModels(&w, &r.Totals, r.Breakdown)
			w.Close('}')
		default:
			w.Open('[')
			for _, name := range r.Unpriced {
				w.Elem()
				w.String(name)
			}
			w.Close(']')
		}
	}
	w.Close('}')
	if w.Err != nil {
		return dst, fmt.Errorf("report JSON: %w", w.Err)
	}
	return w.B, nil
}

// appendRow writes one row as ReportRow marshals.
func (r *Report) appendRow(w *jsontext.Writer, g *usage.Group) {
	w.Open('{')
	if g.Key != "" {
		w.Key(r.Kind.KeyName)
		w.String(g.Key)
	}
	if r.Kind.KeyName == "session_id" && g.Project != "" {
		w.Key("project")
		w.String(g.Project)
	}
	if r.Kind.Sortable() {
		w.Key("first_activity")
		w.String(g.First.In(r.loc).Format(time.RFC3339))
		w.Key("last_activity")
		w.String(g.Last.In(r.loc).Format(time.RFC3339))
	}
	writeAggregate(w, &g.Aggregate)
	if r.Kind.KeyName == "session_id" && r.splits != nil {
		var sp AgentSplit
		if p := r.splits[g.Key]; p != nil {
			sp = *p
		}
		w.Key("cost_main_usd")
		w.Raw(sp.CostMainUSD.String())
		w.Key("cost_subagents_usd")
		w.Raw(sp.CostSubagentsUSD.String())
	}
	writeModels(w, g, r.Breakdown)
	w.Close('}')
}

// aggregate writes the members of a usage.Aggregate, in its field order.
func writeAggregate(w *jsontext.Writer, a *usage.Aggregate) {
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
		w.Key(m.name)
		w.Int(m.v)
	}
	w.Key("cache_hit_rate")
	w.Float(a.CacheHitRate)
	w.Key("cost_usd")
	w.Raw(a.CostUSD.String())
	w.Key("entries")
	w.Int(a.Entries)
}

// models writes a group's model names and, with breakdown, its per-model
// figures (omitted when there are none, as omitempty does).
func writeModels(w *jsontext.Writer, g *usage.Group, breakdown bool) {
	w.Key("models")
	w.Open('[')
	for i := range g.Models {
		w.Elem()
		w.String(g.Models[i].Model)
	}
	w.Close(']')
	if !breakdown || len(g.Models) == 0 {
		return
	}
	w.Key("model_breakdowns")
	w.Open('[')
	for i := range g.Models {
		m := &g.Models[i]
		w.Elem()
		w.Open('{')
		w.Key("model")
		w.String(m.Model)
		writeAggregate(w, &m.Aggregate)
		w.Close('}')
	}
	w.Close(']')
}
