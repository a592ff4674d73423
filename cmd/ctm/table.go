package main

import (
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// table renders rows of cells as aligned columns for people. Numeric columns
// are right-aligned; a rule separates the header and the totals row.
type table struct {
	header []string
	right  []bool // right-align column i
	rows   [][]string
	// ruleBefore marks rows that a horizontal rule precedes (the totals).
	ruleBefore map[int]bool
}

func newTable(header ...string) *table {
	t := &table{header: header, right: make([]bool, len(header)), ruleBefore: map[int]bool{}}
	return t
}

// alignRight right-aligns the named columns.
func (t *table) alignRight(cols ...int) *table {
	for _, c := range cols {
		t.right[c] = true
	}
	return t
}

// add appends a row. Cells come from transcripts (prompts, branches,
// project paths), so they are made safe to print first.
func (t *table) add(cells ...string) {
	for i, c := range cells {
		cells[i] = printable(c)
	}
	t.rows = append(t.rows, cells)
}

// printable returns s with what a terminal would act on instead of show
// replaced: control characters (an escape sequence in a prompt could move
// the cursor, retitle the window or hide the rows after it) by U+FFFD, and
// invalid UTF-8 by U+FFFD too. Tabs and newlines become spaces, which keeps
// the columns aligned.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r) // ranging over s yields RuneError for invalid bytes
		}
	}
	return b.String()
}

// addTotal appends a row preceded by a rule.
func (t *table) addTotal(cells ...string) {
	t.ruleBefore[len(t.rows)] = true
	t.add(cells...)
}

func (t *table) render(w io.Writer) error {
	widths := make([]int, len(t.header))
	measure := func(cells []string) {
		for i, c := range cells {
			if n := utf8.RuneCountInString(c); i < len(widths) && n > widths[i] {
				widths[i] = n
			}
		}
	}
	measure(t.header)
	for _, r := range t.rows {
		measure(r)
	}
	total := 0
	for _, w := range widths {
		total += w
	}
	rule := strings.Repeat("─", total+2*(len(widths)-1))
	var b strings.Builder
	line := func(cells []string) {
		for i := range widths {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if t.right[i] {
				b.WriteString(pad + c)
			} else if i < len(widths)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		b.WriteString("\n")
	}
	line(t.header)
	b.WriteString(rule + "\n")
	for i, r := range t.rows {
		if t.ruleBefore[i] {
			b.WriteString(rule + "\n")
		}
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatInt formats n with thousands separators: 1234567 -> "1,234,567".
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatCost formats an exact amount as dollars and cents, rounded half
// away from zero, with thousands separators.
func formatCost(m usage.Money) string {
	fixed := m.Fixed(2)
	sign := ""
	if rest, ok := strings.CutPrefix(fixed, "-"); ok {
		sign, fixed = "-", rest
	}
	whole, cents, _ := strings.Cut(fixed, ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	return "$" + sign + formatInt(n) + "." + cents
}

// formatUSD formats a figure in dollars that is not a sum of costs (a
// limit, a projection) like formatCost.
func formatUSD(usd float64) string {
	return formatCost(usage.Money(math.Round(usd * usage.MoneyPerUSD)))
}
