// Package mcpserver serves ctm's views to Claude itself over the Model
// Context Protocol, so that "what did this week cost, and on what?" is
// answered from the same views as the CLI, with the same JSON as its
// --json output.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// Options configures New.
type Options struct {
	// Views returns the views with days in loc. Required.
	Views func(loc *time.Location) *views.Views
	// Location is the zone of days when a call names none; nil is UTC.
	Location *time.Location
	// Limits are the per-block limits of current_block, as configured.
	Limits usage.Limits
	// CatchUp, when set, brings the store up to date before each call,
	// so that answers include what Claude Code wrote a moment ago.
	CatchUp func(ctx context.Context) error
	// Version is the server version announced at initialisation.
	Version string
}

// ReportArgs are the arguments of the calendar report tools.
type ReportArgs struct {
	Since     string `json:"since,omitempty" jsonschema:"first day to include, YYYY-MM-DD or YYYYMMDD; default: the first day with usage"`
	Until     string `json:"until,omitempty" jsonschema:"last day to include, YYYY-MM-DD or YYYYMMDD; default: the last day with usage"`
	TZ        string `json:"tz,omitempty" jsonschema:"IANA time zone that days belong to, e.g. Europe/Berlin or UTC; default: the configured one"`
	Project   string `json:"project,omitempty" jsonschema:"only this project: its path or a unique part of it"`
	Breakdown bool   `json:"breakdown,omitempty" jsonschema:"break every row down by model"`
	Order     string `json:"order,omitempty" jsonschema:"row order: asc (default) or desc"`
}

// ListArgs are the arguments of the sessions and projects tools.
type ListArgs struct {
	Since     string `json:"since,omitempty" jsonschema:"first day of activity to include, YYYY-MM-DD or YYYYMMDD"`
	Until     string `json:"until,omitempty" jsonschema:"last day of activity to include, YYYY-MM-DD or YYYYMMDD"`
	TZ        string `json:"tz,omitempty" jsonschema:"IANA time zone that days belong to, e.g. Europe/Berlin or UTC; default: the configured one"`
	Project   string `json:"project,omitempty" jsonschema:"only this project: its path or a unique part of it"`
	Breakdown bool   `json:"breakdown,omitempty" jsonschema:"break every row down by model"`
	Sort      string `json:"sort,omitempty" jsonschema:"sort rows by last (activity, default), cost or tokens"`
	Order     string `json:"order,omitempty" jsonschema:"row order: asc (default) or desc, which puts the largest or latest first"`
}

// SessionArgs are the arguments of session.
type SessionArgs struct {
	ID string `json:"id" jsonschema:"the session's id, as the sessions tool lists it"`
	TZ string `json:"tz,omitempty" jsonschema:"IANA time zone of the times shown; default: the configured one"`
}

// BlockArgs are the arguments of current_block.
type BlockArgs struct {
	TZ string `json:"tz,omitempty" jsonschema:"IANA time zone of the times shown; default: the configured one"`
}

// Output shapes, for the tools' output schemas only: the results are the
// views' own JSON, as the CLI's --json prints it.
type (
	dailyOutput struct {
		Daily          []views.ReportRow  `json:"daily"`
		Totals         views.ReportTotals `json:"totals"`
		UnpricedModels []string           `json:"unpriced_models"`
	}
	weeklyOutput struct {
		Weekly         []views.ReportRow  `json:"weekly"`
		Totals         views.ReportTotals `json:"totals"`
		UnpricedModels []string           `json:"unpriced_models"`
	}
	monthlyOutput struct {
		Monthly        []views.ReportRow  `json:"monthly"`
		Totals         views.ReportTotals `json:"totals"`
		UnpricedModels []string           `json:"unpriced_models"`
	}
	sessionsOutput struct {
		Sessions       []views.ReportRow  `json:"sessions"`
		Totals         views.ReportTotals `json:"totals"`
		UnpricedModels []string           `json:"unpriced_models"`
	}
	projectsOutput struct {
		Projects       []views.ReportRow  `json:"projects"`
		Totals         views.ReportTotals `json:"totals"`
		UnpricedModels []string           `json:"unpriced_models"`
	}
)

// schemaOptions write money as what it marshals to: an exact decimal.
var schemaOptions = &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
	reflect.TypeFor[usage.Money](): {Type: "number", Description: "US dollars, an exact decimal with at most 10 places"},
}}

func schemaFor[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](schemaOptions)
	if err != nil {
		panic(fmt.Sprintf("mcpserver: schema of %T: %v", *new(T), err)) // a programming error
	}
	return s
}

// New returns the MCP server with ctm's tools. Run it with Server.Run on a
// transport, such as mcp.StdioTransport.
func New(opts Options) *mcp.Server {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	h := &handlers{opts: opts}
	s := mcp.NewServer(&mcp.Implementation{Name: "ctm", Title: "Claude Token Monitor", Version: opts.Version}, nil)
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	for _, r := range []struct {
		kind, tool, what string
		out              *jsonschema.Schema
	}{
		{"daily", "daily_report", "per calendar day", schemaFor[dailyOutput]()},
		{"weekly", "weekly_report", "per week (weeks start on Monday)", schemaFor[weeklyOutput]()},
		{"monthly", "monthly_report", "per calendar month", schemaFor[monthlyOutput]()},
	} {
		kind := views.ReportKinds[r.kind]
		mcp.AddTool(s, &mcp.Tool{
			Name:         r.tool,
			Description:  "Claude Code token usage and exact cost in USD " + r.what + ", with totals; the same figures as ctm " + r.kind + " --json.",
			Annotations:  readOnly,
			OutputSchema: r.out,
		}, func(ctx context.Context, _ *mcp.CallToolRequest, a ReportArgs) (*mcp.CallToolResult, any, error) {
			return h.report(ctx, kind, a.TZ, views.ReportQuery{Since: a.Since, Until: a.Until, Project: a.Project, Breakdown: a.Breakdown}, a.Order)
		})
	}
	for _, r := range []struct {
		kind, tool, what string
		out              *jsonschema.Schema
	}{
		{"session", "sessions", "per session (subagents count toward the session that started them)", schemaFor[sessionsOutput]()},
		{"projects", "projects", "per project (working directory)", schemaFor[projectsOutput]()},
	} {
		kind := views.ReportKinds[r.kind]
		mcp.AddTool(s, &mcp.Tool{
			Name:         r.tool,
			Description:  "Claude Code token usage and exact cost in USD " + r.what + ", with first and last activity and totals; the same figures as ctm " + r.kind + " --json.",
			Annotations:  readOnly,
			OutputSchema: r.out,
		}, func(ctx context.Context, _ *mcp.CallToolRequest, a ListArgs) (*mcp.CallToolResult, any, error) {
			return h.report(ctx, kind, a.TZ, views.ReportQuery{Since: a.Since, Until: a.Until, Project: a.Project, Breakdown: a.Breakdown, Sort: a.Sort, AgentSplit: true}, a.Order)
		})
	}
	mcp.AddTool(s, &mcp.Tool{
		Name: "session",
		Description: "One Claude Code session by id: its totals and exact cost in USD, first and last activity, duration, " +
			"per-model breakdown and every API response in time order (timeline). The same data as GET /api/v1/sessions/{id} " +
			"of ctm serve.",
		Annotations:  readOnly,
		OutputSchema: schemaFor[views.SessionDetail](),
	}, h.session)
	mcp.AddTool(s, &mcp.Tool{
		Name: "current_block",
		Description: "The active 5-hour usage block (the window Claude subscriptions are metered in): tokens, cost, burn rate, " +
			"projection and limit status, with the rolling 7 days and Claude Code's own rate-limit percentages; blocks is empty " +
			"when nothing was used in the last 5 hours. The same figures as ctm blocks --active --json.",
		Annotations:  readOnly,
		OutputSchema: schemaFor[views.Blocks](),
	}, h.currentBlock)
	addInsightTools(s, h, readOnly)
	return s
}

// handlers answers the tool calls.
type handlers struct{ opts Options }

// views catches up the store and returns the views in the zone tz names.
func (h *handlers) views(ctx context.Context, tz string) (*views.Views, error) {
	loc := h.opts.Location
	if tz != "" {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil {
			return nil, fmt.Errorf("tz: %q is not a known time zone such as UTC or Europe/Berlin", tz)
		}
	}
	if h.opts.CatchUp != nil {
		if err := h.opts.CatchUp(ctx); err != nil {
			return nil, fmt.Errorf("catch up: %w", err)
		}
	}
	return h.opts.Views(loc), nil
}

func (h *handlers) report(ctx context.Context, kind views.ReportKind, tz string, q views.ReportQuery, order string) (*mcp.CallToolResult, any, error) {
	// The days the CLI takes: YYYY-MM-DD or YYYYMMDD.
	var err error
	if q.Since, err = views.NormalizeDay("since", q.Since); err != nil {
		return nil, nil, toolError(err)
	}
	if q.Until, err = views.NormalizeDay("until", q.Until); err != nil {
		return nil, nil, toolError(err)
	}
	switch order {
	case "", "asc":
	case "desc":
		q.Descending = true
	default:
		return nil, nil, fmt.Errorf("order: %q is not asc or desc", order)
	}
	v, err := h.views(ctx, tz)
	if err != nil {
		return nil, nil, err
	}
	q.Kind = kind
	rep, err := v.Report(ctx, q)
	if err != nil {
		return nil, nil, toolError(err)
	}
	return result(rep)
}

// maxSessionID bounds the id argument; session ids are UUIDs.
const maxSessionID = 200

func (h *handlers) session(ctx context.Context, _ *mcp.CallToolRequest, a SessionArgs) (*mcp.CallToolResult, any, error) {
	switch {
	case a.ID == "":
		return nil, nil, errors.New("id: the session id is required; the sessions tool lists them")
	case len(a.ID) > maxSessionID || !utf8.ValidString(a.ID):
		return nil, nil, fmt.Errorf("id: not a session id (at most %d bytes of UTF-8)", maxSessionID)
	}
	v, err := h.views(ctx, a.TZ)
	if err != nil {
		return nil, nil, err
	}
	d, err := v.Session(ctx, a.ID)
	if err != nil {
		if usage.ErrorCode(err) == usage.ENOTFOUND {
			return nil, nil, fmt.Errorf("id: no session %q; the sessions tool lists them", a.ID)
		}
		return nil, nil, toolError(err)
	}
	return result(d)
}

func (h *handlers) currentBlock(ctx context.Context, _ *mcp.CallToolRequest, a BlockArgs) (*mcp.CallToolResult, any, error) {
	v, err := h.views(ctx, a.TZ)
	if err != nil {
		return nil, nil, err
	}
	b, err := v.Blocks(ctx, views.BlocksQuery{Limits: h.opts.Limits, Active: true})
	if err != nil {
		return nil, nil, toolError(err)
	}
	return result(b)
}

// result returns v as the call's structured content and its text. The SDK
// would re-encode a returned output value through float64, which rounds
// exact money, so the views' own JSON is passed as it is.
func result(v any) (*mcp.CallToolResult, any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	return &mcp.CallToolResult{
		StructuredContent: json.RawMessage(b),
		Content:           []mcp.Content{&mcp.TextContent{Text: string(b)}},
	}, nil, nil
}

// toolError is the message of a tool error: a view's own message, which
// names the argument, for bad input; a generic one otherwise.
func toolError(err error) error {
	switch usage.ErrorCode(err) {
	case usage.EINVALID, usage.ENOTFOUND:
		return fmt.Errorf("%s", usage.ErrorMessage(err))
	}
	return err
}
