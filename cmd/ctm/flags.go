package main

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/claude-token-monitor/ctm/internal/views"
)

// shortFlags are ccusage's short and alternative names, added to every
// command that has the long flag, so that ccusage habits keep working.
var shortFlags = []struct{ alias, long string }{
	{"j", "json"},
	{"b", "breakdown"},
	{"s", "since"},
	{"u", "until"},
	{"o", "order"},
	{"z", "tz"},
	{"timezone", "tz"},
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints a usage line and a summary before the flags.
func newFlagSet(name string, stderr io.Writer, synopsis, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\n%s\n\nflags:\n", synopsis, summary)
		printFlags(stderr, fs)
	}
	return fs
}

// addShortFlags registers the aliases of shortFlags whose long flag fs
// has and whose alias it does not already use for something else (export's
// -o is its output file). An alias shares the long flag's Value, so both
// set the same setting and the help lists them on one line.
func addShortFlags(fs *flag.FlagSet) {
	for _, s := range shortFlags {
		long := fs.Lookup(s.long)
		if long == nil || fs.Lookup(s.alias) != nil {
			continue
		}
		fs.Var(long.Value, s.alias, long.Usage)
	}
}

// printFlags lists fs's flags like flag.PrintDefaults, but with the names
// that share one Value on one line ("-s, --since"), long names with two
// dashes.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var groups [][]*flag.Flag
	byValue := map[flag.Value]int{}
	fs.VisitAll(func(f *flag.Flag) {
		// Only pointers are comparable map keys for every Value type
		// (fs.Func's value is a func); aliases always share a pointer.
		if reflect.ValueOf(f.Value).Kind() == reflect.Pointer {
			if i, ok := byValue[f.Value]; ok {
				groups[i] = append(groups[i], f)
				return
			}
			byValue[f.Value] = len(groups)
		}
		groups = append(groups, []*flag.Flag{f})
	})
	for _, g := range groups {
		slices.SortFunc(g, func(a, b *flag.Flag) int {
			if len(a.Name) == 1 != (len(b.Name) == 1) {
				if len(a.Name) == 1 {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	// A group sorts under its first long name: -s, --since with --since.
	primary := func(g []*flag.Flag) string {
		for _, f := range g {
			if len(f.Name) > 1 {
				return f.Name
			}
		}
		return g[0].Name
	}
	slices.SortFunc(groups, func(a, b []*flag.Flag) int { return strings.Compare(primary(a), primary(b)) })
	for _, g := range groups {
		var names []string
		for _, f := range g {
			if len(f.Name) == 1 {
				names = append(names, "-"+f.Name)
			} else {
				names = append(names, "--"+f.Name)
			}
		}
		arg, usageText := flag.UnquoteUsage(g[0])
		line := "  " + strings.Join(names, ", ")
		if arg != "" {
			line += " " + arg
		}
		if d := g[0].DefValue; d != "" && d != "false" && d != "0" && d != "0s" {
			usageText += fmt.Sprintf(" (default %q)", d)
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(usageText, "\n", "\n    \t"))
	}
}

// normalizeDays checks a --since and --until pair and rewrites them as
// YYYY-MM-DD (see views.NormalizeDay, which the MCP tools use too).
func normalizeDays(since, until *string) (err error) {
	if *since, err = views.NormalizeDay("--since", *since); err != nil {
		return err
	}
	*until, err = views.NormalizeDay("--until", *until)
	return err
}
