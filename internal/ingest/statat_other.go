//go:build !linux

package ingest

import "os"

// statRange sets out[i] to os.Stat of paths[i].
func statRange(paths []string, out []statted) {
	for i, p := range paths {
		out[i].fi, out[i].err = os.Stat(p)
	}
}
