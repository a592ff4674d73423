package browsertest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"
)

// cell is one figure of an insight table as the page renders it.
type cell struct {
	Key   string `json:"key"`
	Col   string `json:"col"`
	Value string `json:"value"`
	Text  string `json:"text"`
}

// readCells returns the figures of the rows of a table body.
func readCells(t *testing.T, b *browser, sel string) []cell {
	t.Helper()
	return eval[[]cell](t, b, fmt.Sprintf(`[...document.querySelectorAll(%q)].flatMap(tr =>
		[...tr.querySelectorAll('[data-col]')].map(td => ({key: tr.dataset.key, col: td.dataset.col, value: td.dataset.value, text: td.textContent})))`, sel))
}

// sameFigures checks that cells hold, row by row and in order, the
// figures of rows (the API's rows, keyed by key).
func sameFigures(t *testing.T, what string, cells []cell, rows []map[string]any, key func(map[string]any) string) {
	t.Helper()
	var order []string
	seen := map[string]bool{}
	for _, c := range cells {
		if !seen[c.Key] {
			seen[c.Key] = true
			order = append(order, c.Key)
		}
	}
	if len(order) != len(rows) {
		t.Fatalf("%s: the page shows %d rows, the API %d", what, len(order), len(rows))
	}
	for i, r := range rows {
		if order[i] != key(r) {
			t.Errorf("%s: row %d is %q, the API's is %q", what, i, order[i], key(r))
		}
	}
	byKey := map[string]map[string]any{}
	for _, r := range rows {
		byKey[key(r)] = r
	}
	for _, c := range cells {
		num, ok := byKey[c.Key][c.Col].(json.Number)
		if !ok {
			t.Errorf("%s: row %q column %s: the API has no number %v", what, c.Key, c.Col, byKey[c.Key][c.Col])
			continue
		}
		want, _ := num.Float64()
		got, err := strconv.ParseFloat(c.Value, 64)
		if err != nil || got != want {
			t.Errorf("%s: row %q column %s shows %q (%q), the API %v", what, c.Key, c.Col, c.Value, c.Text, num)
		}
		if c.Text == "" || c.Text == "—" {
			t.Errorf("%s: row %q column %s shows %q", what, c.Key, c.Col, c.Text)
		}
	}
}

func breakdownKey(r map[string]any) string { return r["key"].(string) }

func promptKey(r map[string]any) string {
	if k := r["key"].(string); k != "" {
		return k
	}
	return "before:" + r["session_id"].(string)
}

// The "Where the money went" and "Most expensive prompts" panels, and
// the session dialog's agents and prompts, show the API's figures.
func TestInsightPanels(t *testing.T) {
	b := newBrowser(t, 1440, 900)
	base := serverURL(t)
	b.open(t, base+"/")
	b.click(t, `[data-period="all"]`)
	b.waitFor(t, "all time", `document.querySelector('#trend-chart').dataset.start < '2026-01-01' && !document.querySelector('#trend-chart').classList.contains('loading')`)
	start := eval[string](t, b, `document.querySelector('#trend-chart').dataset.start`)
	end := eval[string](t, b, `document.querySelector('#trend-chart').dataset.end`)
	q := url.Values{"since": {start}, "until": {end}}

	type breakdown struct {
		By     string           `json:"by"`
		Rows   []map[string]any `json:"rows"`
		Totals map[string]any   `json:"totals"`
	}
	for _, by := range []string{"agent", "skill", "branch", "project", "model"} {
		b.click(t, fmt.Sprintf(`[data-by=%q]`, by))
		var want breakdown
		getAPI(t, base, "/breakdown?by="+by+"&"+q.Encode(), &want)
		b.waitFor(t, "breakdown by "+by, fmt.Sprintf(`document.querySelector('#breakdown-table').dataset.by === %q && document.querySelectorAll('#breakdown-table tbody tr[data-key]').length === %d`, by, len(want.Rows)))
		sameFigures(t, "by "+by, readCells(t, b, "#breakdown-table tbody tr"), want.Rows, breakdownKey)
		want.Totals["key"] = "(total)"
		sameFigures(t, "by "+by+" total", readCells(t, b, "#breakdown-table tfoot tr"), []map[string]any{want.Totals}, breakdownKey)
		if by == "agent" && len(want.Rows) < 2 {
			t.Errorf("by agent: %d rows; the corpus has main and subagent requests", len(want.Rows))
		}
	}

	var prompts struct {
		Prompts  []map[string]any `json:"prompts"`
		RowCount json.Number      `json:"row_count"`
	}
	getAPI(t, base, "/prompts?top=20&"+q.Encode(), &prompts)
	if len(prompts.Prompts) != 20 {
		t.Fatalf("the API lists %d prompts, want 20", len(prompts.Prompts))
	}
	b.waitFor(t, "prompts", fmt.Sprintf(`document.querySelector('#prompts-foot').dataset.rowCount === %q`, prompts.RowCount.String()))
	sameFigures(t, "prompts", readCells(t, b, "#prompts-table tbody tr"), prompts.Prompts, promptKey)
	text := eval[string](t, b, `document.querySelector('#prompts-table tbody tr .prompt-text').textContent`)
	if text != prompts.Prompts[0]["text"] {
		t.Errorf("the first prompt reads %q, the API's %q", text, prompts.Prompts[0]["text"])
	}
	b.screenshot(t, "dashboard-insights.png")

	// The top prompt's session: main vs subagents and its prompts.
	id := prompts.Prompts[0]["session_id"].(string)
	b.click(t, "#prompts-table tbody tr button.link")
	b.waitFor(t, "session prompts", `document.querySelector('#session-dialog').open && document.querySelector('#session-prompts')`)
	var detail struct {
		Agents           []map[string]any `json:"agents"`
		CostMainUSD      json.Number      `json:"cost_main_usd"`
		CostSubagentsUSD json.Number      `json:"cost_subagents_usd"`
	}
	getAPI(t, base, "/sessions/"+url.PathEscape(id), &detail)
	sameFigures(t, "session agents", readCells(t, b, "#session-agents tbody tr"), detail.Agents, breakdownKey)
	split := eval[map[string]string](t, b, `Object.fromEntries([...document.querySelectorAll('#session-insights dd[data-col]')].map(e => [e.dataset.col, e.dataset.value]))`)
	for col, want := range map[string]json.Number{"cost_main_usd": detail.CostMainUSD, "cost_subagents_usd": detail.CostSubagentsUSD} {
		w, _ := want.Float64()
		if got, err := strconv.ParseFloat(split[col], 64); err != nil || got != w {
			t.Errorf("session %s: %s shows %q, the API %v", id, col, split[col], want)
		}
	}
	var sp struct {
		Prompts []map[string]any `json:"prompts"`
	}
	getAPI(t, base, "/prompts?sort=time&top=10000&session="+url.QueryEscape(id), &sp)
	sameFigures(t, "session prompts", readCells(t, b, "#session-prompts tbody tr"), sp.Prompts, promptKey)
	b.screenshot(t, "dashboard-session-prompts.png")
}
