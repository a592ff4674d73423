package views_test

import (
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// TestNormalizeDay checks the one day syntax of the CLI's flags and the
// MCP tools' arguments.
func TestNormalizeDay(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"", "", ""},
		{"2026-02-01", "2026-02-01", ""},
		{"20260201", "2026-02-01", ""},
		{"2026-0201", "", `since: "2026-0201" is not a date: use YYYY-MM-DD or YYYYMMDD`},
		{"yesterday", "", `since: "yesterday" is not a date`},
		{"20260230", "", `since: "20260230" is not a valid date: February 2026 has no day 30`},
		{"2026-13-01", "", `since: "2026-13-01" is not a valid date: there is no month 13`},
		{strings.Repeat("9", 1<<16), "", "since: "},
	} {
		got, err := views.NormalizeDay("since", c.in)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("NormalizeDay(%q) = %q, %v; want %q", c.in, got, err, c.want)
		case c.err != "" && (err == nil || usage.ErrorCode(err) != usage.EINVALID || !strings.Contains(usage.ErrorMessage(err), c.err)):
			t.Errorf("NormalizeDay(%.20q) = %q, %v; want EINVALID %q", c.in, got, err, c.err)
		}
	}
}
