// Package web holds the dashboard: plain HTML, CSS and JavaScript modules
// embedded in the binary, so that `go build` needs no front-end toolchain and
// the page works offline. The server mounts FS at "/".
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS is the dashboard's files with index.html at its root, ready for
// http.FileServerFS.
var FS fs.FS = mustSub(static, "static")

// mustSub roots fsys at dir. It can only fail on an invalid dir, a constant
// here, so a failure is a programming error caught by the package's tests.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("web: " + err.Error())
	}
	return sub
}
