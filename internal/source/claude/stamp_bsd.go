//go:build darwin || freebsd || netbsd

package claude

import (
	"io/fs"
	"syscall"
)

// stampOf returns what tells that a directory's entries may have changed:
// its device and inode (replaced) and its modification and change times
// (an entry added, removed or renamed). ok is false when fi does not
// carry them.
func stampOf(fi fs.FileInfo) (s dirStamp, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return s, false
	}
	// The field types differ between platforms, hence the conversions.
	return dirStamp{dev: uint64(st.Dev), ino: uint64(st.Ino),
		mtime: st.Mtimespec.Nano(), ctime: st.Ctimespec.Nano()}, true
}
