package views

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// PromptTextChars is how much of a prompt's text the prompts view shows.
const PromptTextChars = 200

// perSessionPrompts is the number of sessions up to which the prompts
// view reads each session's prompts on its own; above it, one read of all
// prompts costs less than that many queries.
var perSessionPrompts = 1000

// BeforeFirstPrompt is the text of the row that holds a session's
// responses before its first prompt (a resumed or compacted session, or
// one whose first prompt is not stored).
const BeforeFirstPrompt = "(before first prompt)"

// PromptsQuery selects the rows of a Prompts view.
type PromptsQuery struct {
	// Since and Until are an inclusive range of YYYY-MM-DD days in the
	// views' zone; "" leaves a bound open. Only responses in the range
	// count, but which prompt owns a response never depends on it.
	Since, Until string
	// Project is a project's path or a unique part of it; "" is all.
	Project string
	// SessionID keeps one session; "" keeps all.
	SessionID string
	// Top is how many rows to return; 0 returns all.
	Top int
	// Sort is "cost" (the default: most expensive first) or "time"
	// (earliest first).
	Sort string
}

// PromptRow is one prompt and the responses it owns: those of its session
// that follow it until the session's next prompt, its subagents' included.
type PromptRow struct {
	// Key is the prompt's key; "" for a session's responses before its
	// first prompt.
	Key       string `json:"key"`
	SessionID string `json:"session_id"`
	Project   string `json:"project"`
	// Timestamp is when the prompt was typed; for the row before a
	// session's first prompt, its first response.
	Timestamp time.Time `json:"timestamp"`
	// Text is the first PromptTextChars characters of the prompt, or
	// BeforeFirstPrompt.
	Text string `json:"text"`
	// BeforeFirstPrompt marks the row of a session's responses before
	// its first prompt.
	BeforeFirstPrompt bool `json:"before_first_prompt"`
	// Subagents is the part of the cost that subagents spent.
	CostSubagentsUSD usage.Money `json:"cost_subagents_usd"`
	Models           []string    `json:"models"`
	usage.Aggregate
}

// Prompts is the prompts view: the prompts that owned responses in a
// range, ordered, with the totals of all of them (not only the rows
// shown), which are the daily report's totals for the same range.
type Prompts struct {
	Since    string      `json:"since,omitempty"`
	Until    string      `json:"until,omitempty"`
	Timezone string      `json:"timezone"`
	Prompts  []PromptRow `json:"prompts"`
	// RowCount is the number of rows before Top cut them.
	RowCount       int             `json:"row_count"`
	Totals         usage.Aggregate `json:"totals"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// ownerPrompt is what the view keeps of a stored prompt.
type ownerPrompt struct {
	key, session, project, text string
	ts                          time.Time
}

// Prompts returns the prompts view q selects. Bad days, a negative Top,
// an unknown sort and a project that matches none or several are EINVALID
// or ENOTFOUND errors naming since, until, top, sort or project.
func (v *Views) Prompts(ctx context.Context, q PromptsQuery) (Prompts, error) {
	res := Prompts{Since: q.Since, Until: q.Until, Timezone: v.loc().String(), Prompts: []PromptRow{}, UnpricedModels: []string{}}
	if q.Top < 0 {
		return res, usage.Errorf(usage.EINVALID, "top: %d is negative", q.Top)
	}
	switch q.Sort {
	case "", "cost", "time":
	default:
		return res, usage.Errorf(usage.EINVALID, "sort: %q is not cost or time", q.Sort)
	}
	f, err := v.rangeFilter(ctx, q.Since, q.Until, q.Project)
	if err != nil {
		return res, err
	}
	f.SessionID = q.SessionID
	// The sessions with responses in the range; their prompts are read
	// from the start, since a prompt before the range may own responses
	// inside it.
	sessions, err := v.Store.Aggregate(ctx, f, usage.BySession)
	if err != nil {
		return res, err
	}
	wanted := map[string]bool{}
	for _, b := range sessions {
		wanted[b.Key] = true
	}
	byS := map[string][]ownerPrompt{}
	keep := func(stored []usage.Prompt) {
		for i := range stored {
			p := &stored[i]
			if wanted[p.SessionID] {
				byS[p.SessionID] = append(byS[p.SessionID], ownerPrompt{key: p.Key, session: p.SessionID, project: p.Project, text: cutText(p.Text, PromptTextChars), ts: p.Timestamp})
			}
		}
	}
	switch {
	case len(wanted) == 0:
	case len(wanted) <= perSessionPrompts:
		// A narrow range: each session's prompts by the session index,
		// rather than every prompt ever stored before the range ends.
		for id := range wanted {
			stored, err := v.Store.Prompts(ctx, usage.Filter{Until: f.Until, SessionID: id, User: f.User})
			if err != nil {
				return res, err
			}
			keep(stored)
		}
	default:
		stored, err := v.Store.Prompts(ctx, usage.Filter{Until: f.Until, SessionID: f.SessionID, User: f.User})
		if err != nil {
			return res, err
		}
		keep(stored)
	}
	for _, ps := range byS {
		slices.SortStableFunc(ps, func(a, b ownerPrompt) int {
			if c := a.ts.Compare(b.ts); c != 0 {
				return c
			}
			return cmp.Compare(a.key, b.key)
		})
	}
	// Row keys: a prompt's key, or "before:<session>".
	sums := recordSums{}
	subagents := map[string]usage.Money{}
	firstSeen := map[string]time.Time{}
	owner := map[string]*ownerPrompt{}
	err = v.eachRecord(ctx, f, func(r *usage.Record) {
		ps := byS[r.SessionID]
		// The latest prompt at or before the response.
		i := sort.Search(len(ps), func(i int) bool { return ps[i].ts.After(r.Timestamp) }) - 1
		var key string
		if i < 0 {
			key = "before:" + r.SessionID
			if _, ok := firstSeen[key]; !ok {
				firstSeen[key] = r.Timestamp
			}
		} else {
			key = ps[i].key
			owner[key] = &ps[i]
		}
		sums.add(key, r)
		if r.AgentLabel() != usage.AgentMain {
			subagents[key] = subagents[key].Add(r.Cost)
		}
	})
	if err != nil {
		return res, err
	}
	rep := sums.rollup(v.Prices)
	rows := make([]PromptRow, 0, len(rep.Groups))
	for i := range rep.Groups {
		g := &rep.Groups[i]
		row := PromptRow{Models: g.ModelNames(), Aggregate: g.Aggregate, CostSubagentsUSD: subagents[g.Key]}
		if p := owner[g.Key]; p != nil {
			row.Key, row.SessionID, row.Project, row.Text, row.Timestamp = p.key, p.session, p.project, p.text, p.ts
		} else {
			row.SessionID = g.Key[len("before:"):]
			row.Project, row.Text, row.BeforeFirstPrompt = g.Project, BeforeFirstPrompt, true
			row.Timestamp = firstSeen[g.Key]
		}
		row.Timestamp = row.Timestamp.In(v.loc())
		rows = append(rows, row)
	}
	byTime := func(a, b PromptRow) int {
		if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
			return c
		}
		if c := cmp.Compare(a.SessionID, b.SessionID); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	}
	if q.Sort == "time" {
		slices.SortStableFunc(rows, byTime)
	} else {
		slices.SortStableFunc(rows, func(a, b PromptRow) int {
			if c := cmp.Compare(b.CostUSD, a.CostUSD); c != 0 {
				return c
			}
			if c := cmp.Compare(b.TotalTokens, a.TotalTokens); c != 0 {
				return c
			}
			return byTime(a, b)
		})
	}
	res.RowCount = len(rows)
	if q.Top > 0 && len(rows) > q.Top {
		rows = rows[:q.Top]
	}
	res.Prompts = rows
	res.Totals = rep.Totals.Aggregate
	res.UnpricedModels = nonNil(rep.Unpriced)
	return res, nil
}

// cutText returns the first n characters of s.
func cutText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
