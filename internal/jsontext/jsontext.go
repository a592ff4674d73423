// Package jsontext writes JSON member by member, byte for byte as
// encoding/json marshals and json.Encoder.SetIndent indents it, for the
// documents that are written in every process (a report, the price
// table's fingerprint), where reflection's first use of each type cost
// more than the rest of the encoding.
package jsontext

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// ErrUnsupported is the error of a float that is not a finite number,
// which JSON cannot hold.
var ErrUnsupported = errors.New("json: unsupported value: NaN or infinite float")

// Writer appends a JSON document to B. Its methods write a member's key
// (Key) or an array element's separator (Elem), then a value; Open and
// Close bracket an object or array.
type Writer struct {
	// B is the document so far.
	B []byte
	// Indent is the indentation of one level; "" writes compact JSON.
	Indent string
	// Err is the first error: a float that JSON cannot hold.
	Err error

	depth int
	// empty is whether the innermost open object or array has no member
	// yet.
	empty bool
}

// Open starts an object ('{') or array ('[').
func (w *Writer) Open(c byte) {
	w.B = append(w.B, c)
	w.depth++
	w.empty = true
}

// Close ends the innermost object ('}') or array (']').
func (w *Writer) Close(c byte) {
	w.depth--
	if !w.empty {
		w.newline()
	}
	w.B = append(w.B, c)
	w.empty = false
}

func (w *Writer) newline() {
	if w.Indent == "" {
		return
	}
	w.B = append(w.B, '\n')
	for range w.depth {
		w.B = append(w.B, w.Indent...)
	}
}

// Elem starts an array element.
func (w *Writer) Elem() {
	if !w.empty {
		w.B = append(w.B, ',')
	}
	w.empty = false
	w.newline()
}

// Key starts an object member.
func (w *Writer) Key(k string) {
	w.Elem()
	w.B = AppendString(w.B, k)
	w.B = append(w.B, ':')
	if w.Indent != "" {
		w.B = append(w.B, ' ')
	}
}

// String writes a string value.
func (w *Writer) String(s string) { w.B = AppendString(w.B, s) }

// Int writes an integer value.
func (w *Writer) Int(v int64) { w.B = strconv.AppendInt(w.B, v, 10) }

// Raw writes text that is already a JSON value, such as a number.
func (w *Writer) Raw(s string) { w.B = append(w.B, s...) }

// Float writes f as encoding/json does: the shortest decimal that reads
// back as f, in exponent form only below 1e-6 or from 1e21, with a
// one-digit negative exponent unpadded (1e-7, not 1e-07). NaN and the
// infinities set Err.
func (w *Writer) Float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		if w.Err == nil {
			w.Err = ErrUnsupported
		}
		w.B = append(w.B, '0')
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.B = strconv.AppendFloat(w.B, f, format, -1, 64)
	if format == 'e' {
		if n := len(w.B); n >= 4 && w.B[n-4] == 'e' && w.B[n-3] == '-' && w.B[n-2] == '0' {
			w.B[n-2] = w.B[n-1]
			w.B = w.B[:n-1]
		}
	}
}

// AppendString appends s as encoding/json writes a string with HTML
// escaping on (its default): <, > and & as \u003c, \u003e and \u0026,
// U+2028 and U+2029 escaped, and each byte of invalid UTF-8 as \ufffd.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
