//go:build unix

package ingest

import (
	"io/fs"
	"syscall"
)

// fileID returns the device and inode of a file, which tell a file replaced
// under the same name (a new inode) from one appended to.
func fileID(fi fs.FileInfo) (dev, ino uint64) {
	if s, ok := fi.(interface{ id() (uint64, uint64) }); ok {
		return s.id() // statRange's
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		// The field types differ between unix flavours (int32 device
		// numbers on darwin), hence the conversions.
		return uint64(st.Dev), uint64(st.Ino)
	}
	return 0, 0
}
