package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

func TestFormatInt(t *testing.T) {
	tests := map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234567: "1,234,567",
		-1234: "-1,234", 100000: "100,000"}
	for n, want := range tests {
		if got := formatInt(n); got != want {
			t.Errorf("formatInt(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFormatCost(t *testing.T) {
	tests := map[string]string{"0": "$0.00", "0.004": "$0.00", "0.005": "$0.01", "1.239": "$1.24",
		"1234.5": "$1,234.50", "68.6485263": "$68.65", "-0.5": "$-0.50", "-12.25": "$-12.25",
		"0.0049999999": "$0.00", "1234567.995": "$1,234,568.00", "-0.001": "$0.00"}
	for usd, want := range tests {
		m, err := usage.ParseMoney(usd)
		if err != nil {
			t.Fatal(err)
		}
		if got := formatCost(m); got != want {
			t.Errorf("formatCost(%v) = %q, want %q", usd, got, want)
		}
	}
}

func TestTableRender(t *testing.T) {
	tb := newTable("Date", "Models", "Cost").alignRight(2)
	tb.add("2026-01-01", "opus-4-5", "$1.00")
	tb.add("2026-01-02", "haiku-4-5, opus-4-5", "$10.25")
	tb.addTotal("Total", "", "$11.25")
	var b bytes.Buffer
	if err := tb.render(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %d lines, want 6:\n%s", len(lines), b.String())
	}
	width := len([]rune(lines[0]))
	for i, l := range lines {
		if n := len([]rune(l)); n != width {
			t.Errorf("line %d is %d runes wide, want %d (aligned):\n%s", i, n, width, b.String())
		}
	}
	if !strings.HasSuffix(lines[2], "  $1.00") || !strings.HasSuffix(lines[3], "$10.25") {
		t.Errorf("cost column not right-aligned:\n%s", b.String())
	}
	if !strings.HasPrefix(lines[4], "───") || !strings.HasPrefix(lines[5], "Total") {
		t.Errorf("totals row not separated by a rule:\n%s", b.String())
	}
}

func TestShortNames(t *testing.T) {
	if got := shortModel("claude-opus-4-5-20251101"); got != "opus-4-5" {
		t.Errorf("shortModel = %q", got)
	}
	if got := shortModel("claude-sonnet-4-6"); got != "sonnet-4-6" {
		t.Errorf("shortModel = %q", got)
	}
	if got := shortProject("/Users/me/src/api"); got != "src/api" {
		t.Errorf("shortProject = %q", got)
	}
	if got := shortProject("/"); got != "/" {
		t.Errorf("shortProject(/) = %q", got)
	}
}

// TestTableCellsArePrintable checks that text from transcripts cannot
// drive the terminal: escape sequences, other control characters and
// invalid UTF-8 in a cell are printed as U+FFFD, tabs and newlines as
// spaces, and the columns stay aligned.
func TestTableCellsArePrintable(t *testing.T) {
	tb := newTable("Prompt", "Cost").alignRight(1)
	tb.add("fix \x1b[2J\x1b]0;owned\x07 the tests", "$1.00")
	tb.add("line one\nline\ttwo\r", "$2.00")
	tb.add("bad \xff byte and \u009b C1", "$3.00")
	tb.add("plain prompt", "$4.00")
	var b bytes.Buffer
	if err := tb.render(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, r := range out {
		if r != '\n' && unicode.IsControl(r) {
			t.Fatalf("output holds control character %U:\n%q", r, out)
		}
	}
	if !utf8.ValidString(out) {
		t.Fatalf("output is not valid UTF-8: %q", out)
	}
	for _, want := range []string{"fix \uFFFD[2J\uFFFD]0;owned\uFFFD the tests", "line one line two ", "bad \uFFFD byte and \uFFFD C1", "plain prompt"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		if n, w := utf8.RuneCountInString(l), utf8.RuneCountInString(lines[0]); n != w {
			t.Errorf("line %d is %d runes wide, want %d:\n%s", i, n, w, out)
		}
	}
}
