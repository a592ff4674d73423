package mcpserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/claude-token-monitor/ctm/internal/views"
)

// BreakdownArgs are the arguments of the breakdown tool.
type BreakdownArgs struct {
	By      string `json:"by" jsonschema:"the cut: branch (git branch), agent (main, a subagent type, or subagent), skill (skill/plugin/agent attribution), project or model"`
	Since   string `json:"since,omitempty" jsonschema:"first day to include, YYYY-MM-DD or YYYYMMDD; default: open"`
	Until   string `json:"until,omitempty" jsonschema:"last day to include, YYYY-MM-DD or YYYYMMDD; default: open"`
	TZ      string `json:"tz,omitempty" jsonschema:"IANA time zone that days belong to, e.g. Europe/Berlin or UTC; default: the configured one"`
	Project string `json:"project,omitempty" jsonschema:"only this project: its path or a unique part of it"`
}

// PromptsArgs are the arguments of the prompts tool.
type PromptsArgs struct {
	Top     *int   `json:"top,omitempty" jsonschema:"how many prompts to return, most expensive first; default 10, at most 500; totals cover every prompt either way"`
	Since   string `json:"since,omitempty" jsonschema:"first day to include, YYYY-MM-DD or YYYYMMDD; default: open"`
	Until   string `json:"until,omitempty" jsonschema:"last day to include, YYYY-MM-DD or YYYYMMDD; default: open"`
	TZ      string `json:"tz,omitempty" jsonschema:"IANA time zone that days belong to, e.g. Europe/Berlin or UTC; default: the configured one"`
	Project string `json:"project,omitempty" jsonschema:"only this project: its path or a unique part of it"`
	Session string `json:"session,omitempty" jsonschema:"only this session id"`
	Sort    string `json:"sort,omitempty" jsonschema:"cost (default: most expensive first) or time (earliest first)"`
}

// defaultTop is the prompts tool's top when the call names none, as ctm
// prompts has it.
const defaultTop = 10

// maxTop bounds the prompts tool's rows: its answer lands in the model's
// context, where thousands of prompt texts help no one, and totals cover
// every row anyway.
const maxTop = 500

// addInsightTools adds the breakdown and prompts tools to s.
func addInsightTools(s *mcp.Server, h *handlers, readOnly *mcp.ToolAnnotations) {
	mcp.AddTool(s, &mcp.Tool{
		Name: "breakdown",
		Description: "Where the money went: Claude Code usage and exact cost in USD cut by " + strings.Join(views.BreakdownDims, ", ") +
			", most expensive first; the rows add up to the daily report's totals. The same figures as ctm breakdown --by <by> --json.",
		Annotations:  readOnly,
		OutputSchema: schemaFor[views.Breakdown](),
	}, h.breakdown)
	mcp.AddTool(s, &mcp.Tool{
		Name: "prompts",
		Description: "The most expensive prompts: each prompt the user typed with the usage and cost of the responses it led to " +
			"(until the next prompt of its session, subagents included). The same figures as ctm prompts --json.",
		Annotations:  readOnly,
		OutputSchema: schemaFor[views.Prompts](),
	}, h.prompts)
}

func (h *handlers) breakdown(ctx context.Context, _ *mcp.CallToolRequest, a BreakdownArgs) (*mcp.CallToolResult, any, error) {
	var err error
	if a.Since, a.Until, err = normalizeDays(a.Since, a.Until); err != nil {
		return nil, nil, toolError(err)
	}
	v, err := h.views(ctx, a.TZ)
	if err != nil {
		return nil, nil, err
	}
	b, err := v.Breakdown(ctx, views.BreakdownQuery{By: a.By, Since: a.Since, Until: a.Until, Project: a.Project})
	if err != nil {
		return nil, nil, toolError(err)
	}
	return result(b)
}

func (h *handlers) prompts(ctx context.Context, _ *mcp.CallToolRequest, a PromptsArgs) (*mcp.CallToolResult, any, error) {
	// A pointer tells top 0 (refused) from no top (the default).
	top := defaultTop
	if a.Top != nil {
		top = *a.Top
	}
	if top < 1 || top > maxTop {
		return nil, nil, fmt.Errorf("top: %d is not between 1 and %d", top, maxTop)
	}
	if a.Sort == "" {
		a.Sort = "cost"
	}
	var err error
	if a.Since, a.Until, err = normalizeDays(a.Since, a.Until); err != nil {
		return nil, nil, toolError(err)
	}
	v, err := h.views(ctx, a.TZ)
	if err != nil {
		return nil, nil, err
	}
	p, err := v.Prompts(ctx, views.PromptsQuery{Since: a.Since, Until: a.Until, Project: a.Project, SessionID: a.Session, Top: top, Sort: a.Sort})
	if err != nil {
		return nil, nil, toolError(err)
	}
	return result(p)
}

// normalizeDays takes the since and until days as the report tools and
// the CLI do, YYYYMMDD included (see views.NormalizeDay).
func normalizeDays(since, until string) (string, string, error) {
	since, err := views.NormalizeDay("since", since)
	if err != nil {
		return "", "", err
	}
	until, err = views.NormalizeDay("until", until)
	return since, until, err
}
