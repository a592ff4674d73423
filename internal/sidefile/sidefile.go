// Package sidefile holds what the caches ctm keeps beside its database
// (the saved rollup, file states and folder listings) share: a body of
// varints and strings, sealed by a CRC-32, written by a rename so that a
// reader sees the old file or the new one and never half of one. Each
// cache checks its own magic and what it copies; a file that does not
// check out is ignored, never trusted.
package sidefile

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// Seal appends the CRC-32 (IEEE) of b to b.
func Seal(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// Open returns what lies between magic and the CRC of b, and false when
// b does not start with magic or its CRC does not match.
func Open(b []byte, magic string) ([]byte, bool) {
	if len(b) < len(magic)+4 || string(b[:len(magic)]) != magic ||
		crc32.ChecksumIEEE(b[:len(b)-4]) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, false
	}
	return b[len(magic) : len(b)-4], true
}

// Write replaces the file at path with data by writing a temporary file
// in the same folder and renaming it over path.
func Write(path string, data []byte) error {
	return replace(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteSealed replaces the file at path, as Write does, with what write
// writes followed by its CRC, as Seal appends it: a large body is
// streamed through a buffer instead of built in memory first.
func WriteSealed(path string, write func(io.Writer) error) error {
	return replace(path, func(f *os.File) error {
		crc := crc32.NewIEEE()
		w := bufio.NewWriterSize(io.MultiWriter(f, crc), 256<<10)
		if err := write(w); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		_, err := f.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
		return err
	})
}

// replace writes a temporary file in path's folder with write and renames
// it over path; on failure it removes the temporary file.
func replace(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Decoder reads a body field by field. The first field that does not
// decode makes it Failed, and every later read returns zero, so that a
// caller checks once per record instead of after every field.
type Decoder struct {
	b []byte
	// all, when set, is one copy of the whole body that strings are cut
	// from (base is its length): one allocation for every string.
	all  string
	base int
	bad  bool
}

// NewDecoder returns a Decoder of body whose strings are each a copy.
func NewDecoder(body []byte) *Decoder { return &Decoder{b: body} }

// NewSharingDecoder returns a Decoder of body whose strings are cut from
// one copy of it, which they keep alive together.
func NewSharingDecoder(body []byte) *Decoder {
	return &Decoder{b: body, all: string(body), base: len(body)}
}

// Failed reports whether a read went past the data or found a bad varint.
func (d *Decoder) Failed() bool { return d.bad }

// Len is the number of bytes not read yet.
func (d *Decoder) Len() int { return len(d.b) }

// Fail marks the data as bad, for checks the caller makes itself.
func (d *Decoder) Fail() { d.bad = true }

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Varint reads a signed varint.
func (d *Decoder) Varint() int64 {
	if d.bad {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// String reads the next n bytes as a string.
func (d *Decoder) String(n uint64) string {
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return ""
	}
	var s string
	if d.all != "" {
		at := d.base - len(d.b)
		s = d.all[at : at+int(n)]
	} else {
		s = string(d.b[:n])
	}
	d.b = d.b[n:]
	return s
}

// Count reads a count of items that take at least minBytes each (at
// least 1): a count the bytes left cannot hold is corruption, not a
// reason to allocate, and makes the Decoder fail.
func (d *Decoder) Count(minBytes int) uint64 {
	n := d.Uvarint()
	if d.bad || n > uint64(len(d.b)/max(minBytes, 1)) {
		d.bad = true
		return 0
	}
	return n
}
