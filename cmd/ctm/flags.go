package main

import (
	"flag"
	"fmt"
	"io"
)

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints a usage line and a summary before the flags.
func newFlagSet(name string, stderr io.Writer, synopsis, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\n%s\n\nflags:\n", synopsis, summary)
		fs.PrintDefaults()
	}
	return fs
}
