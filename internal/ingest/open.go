package ingest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// errNotRegular is wrapped by openRegular's error for anything but a
// regular file: a FIFO blocks the open (or the reads) for good, a device
// such as /dev/zero never ends, and a socket cannot be opened at all.
var errNotRegular = fmt.Errorf("not a regular file")

// openRegular opens path, following symlinks, only when it is a regular
// file, and never blocks on a FIFO: it checks with stat first, opens
// without blocking (so that a file swapped for a FIFO in between cannot
// hang the open), then checks again through the open file.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("open %s: %w (%s)", path, errNotRegular, fi.Mode().Type())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("open %s: %w (%s)", path, errNotRegular, fi.Mode().Type())
	}
	return f, fi, nil
}

// readRegular reads the whole regular file at path, like os.ReadFile but
// through openRegular.
func readRegular(path string) ([]byte, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
