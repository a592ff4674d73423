package ingest

import (
	"bufio"
	"errors"
	"io"
)

// lineReader yields complete lines of any length without holding more than
// one line in memory. bufio.Scanner is not used because its token limit
// breaks on the multi-megabyte lines Claude Code writes.
type lineReader struct {
	r   *bufio.Reader
	buf []byte
	max int
}

// errLineTooLong reports a line longer than the reader's limit; the line has
// been consumed.
var errLineTooLong = errors.New("line too long")

// readBufferSize is bufio's buffer: lines shorter than this are returned
// without a copy.
const readBufferSize = 256 << 10

func newLineReader(r io.Reader, maxLine int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, readBufferSize), max: maxLine}
}

// reset makes lr read from r, keeping its buffers: real transcripts hold
// lines of a few MB, and regrowing for each file would double the garbage
// of a run. Only a buffer grown for a pathological line is dropped.
func (lr *lineReader) reset(r io.Reader) {
	lr.r.Reset(r)
	if cap(lr.buf) > 16<<20 {
		lr.buf = nil
	}
}

// next returns the next line without its '\n', the number of bytes it
// occupied in the input, and whether it was '\n'-terminated. At the end of
// the input it returns io.EOF with no bytes; an unterminated last line is
// returned first with complete == false and a nil error. A line longer than
// the limit is skipped to its end and reported with errLineTooLong (its size
// still counts in n). The returned slice is valid until the next call.
func (lr *lineReader) next() (line []byte, n int64, complete bool, err error) {
	lr.buf = lr.buf[:0]
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		n += int64(len(chunk))
		if !tooLong {
			if lr.max > 0 && len(lr.buf)+len(chunk) > lr.max+1 {
				// Drop what was kept: memory stays bounded by max.
				tooLong = true
				lr.buf = lr.buf[:0]
			} else if err == nil && len(lr.buf) == 0 {
				// The common case: the whole line is in bufio's
				// buffer, so no copy is needed.
				line = chunk
			} else {
				lr.buf = append(lr.buf, chunk...)
				line = lr.buf
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, n, true, errLineTooLong
			}
			return line[:len(line)-1], n, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if n == 0 {
				return nil, 0, false, io.EOF
			}
			if tooLong {
				return nil, n, false, errLineTooLong
			}
			return line, n, false, nil
		default:
			return nil, n, false, err
		}
	}
}
