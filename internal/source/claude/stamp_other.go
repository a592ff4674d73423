//go:build !(linux || openbsd || darwin || freebsd || netbsd)

package claude

import "io/fs"

// stampOf reports that fi carries no change time here: every directory
// is listed again on every walk.
func stampOf(fs.FileInfo) (dirStamp, bool) { return dirStamp{}, false }
