package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// resolveVersion returns the build-time version, else the module version
// recorded by "go install", else "dev".
func resolveVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

func runVersion(_ context.Context, args []string, env *environ) int {
	fs := newFlagSet("version", env.stderr, "ctm version", "Prints the version.")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "ctm version: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	fmt.Fprintf(env.stdout, "ctm %s\n", resolveVersion())
	return 0
}
