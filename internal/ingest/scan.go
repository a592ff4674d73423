package ingest

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// scanner walks one JSON value in place. It decodes only the members it is
// asked for and skips every other value by matching quotes and brackets,
// without building anything: transcript lines are mostly long strings
// (content, tool results) that a usage reader never needs, and skipping them
// with bytes.IndexByte is several times faster than a full decoder.
//
// Members it walks are checked strictly (keys, colons, commas); values it
// skips are checked only for balanced brackets and closed strings. That is
// enough to reject every truncated line, which is the invalid input that
// transcripts really contain. Any failure sets bad and every later call is
// a no-op, so callers check bad once at the end.
type scanner struct {
	b   []byte
	i   int
	bad bool
}

// structural marks the bytes skipNested must look at.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

func (s *scanner) fail() { s.bad, s.i = true, len(s.b) }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) {
	if s.peek() != c {
		s.fail()
		return
	}
	s.i++
}

// rawString consumes the string at s.i and returns its bytes between the
// quotes, still escaped, and whether it contains escapes.
func (s *scanner) rawString() (raw []byte, escaped bool) {
	if s.peek() != '"' {
		s.fail()
		return nil, false
	}
	start := s.i + 1
	j := start
	for {
		q := bytes.IndexByte(s.b[j:], '"')
		if q < 0 {
			s.fail()
			return nil, false
		}
		q += j
		// Skip the escapes before the quote; one may escape the quote itself.
		for j <= q {
			bs := bytes.IndexByte(s.b[j:q], '\\')
			if bs < 0 {
				s.i = q + 1
				return s.b[start:q], escaped
			}
			escaped = true
			j += bs + 2
		}
	}
}

// stringBytes consumes a value and returns it decoded when it is a string,
// or nil for any other value. The result aliases the line unless the string
// has escapes or invalid UTF-8; those take encoding/json's slow path so that
// they decode exactly as a standard decoder would.
func (s *scanner) stringBytes() []byte {
	if s.peek() != '"' {
		s.skip()
		return nil
	}
	open := s.i
	raw, escaped := s.rawString()
	if s.bad {
		return nil
	}
	if !escaped && utf8.Valid(raw) {
		return raw
	}
	var str string
	if err := json.Unmarshal(s.b[open:s.i], &str); err != nil {
		s.fail()
		return nil
	}
	return []byte(str)
}

// boolean consumes a value and reports whether it is the literal true.
func (s *scanner) boolean() bool {
	if s.peek() == 't' {
		return bytes.Equal(s.scalar(), []byte("true"))
	}
	s.skip()
	return false
}

// integer consumes a value and returns it as an int64 when it is a number,
// else 0. A number beyond int64 saturates (see tokenInt).
func (s *scanner) integer() int64 {
	c := s.peek()
	if c != '-' && (c < '0' || c > '9') {
		s.skip()
		return 0
	}
	return tokenInt(s.scalar())
}

// numberToInt converts a JSON number to int64: integers exactly, anything
// else (fractions, exponents) truncated, and 0 when it is out of range.
func numberToInt(num []byte) int64 {
	if len(num) > 0 && len(num) <= 18 {
		var n int64
		for _, c := range num {
			if c < '0' || c > '9' {
				goto slow
			}
			n = n*10 + int64(c-'0')
		}
		return n
	}
slow:
	if n, err := strconv.ParseInt(string(num), 10, 64); err == nil {
		return n
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0
	}
	return int64(f)
}

// scalar consumes a number or literal and returns its text.
func (s *scanner) scalar() []byte {
	s.ws()
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			goto done
		case '"', '{', '[', ':':
			s.fail()
			return nil
		}
		s.i++
	}
done:
	if s.i == start {
		s.fail()
		return nil
	}
	return s.b[start:s.i]
}

// skip consumes one value of any kind.
func (s *scanner) skip() {
	switch s.peek() {
	case '"':
		s.rawString()
	case '{', '[':
		s.skipNested()
	default:
		s.scalar()
	}
}

// skipNested consumes an object or array by balancing its brackets.
func (s *scanner) skipNested() {
	depth := 0
	for s.i < len(s.b) {
		c := s.b[s.i]
		if !structural[c] {
			s.i++
			continue
		}
		switch c {
		case '"':
			if s.rawString(); s.bad {
				return
			}
			continue
		case '{', '[':
			depth++
		default: // '}', ']'
			depth--
		}
		s.i++
		if depth == 0 {
			return
		}
	}
	s.fail()
}

// object consumes an object, calling member for each key with the scanner
// positioned at the value; member must consume the value (s.skip() for
// members it does not want). A value that is not an object is skipped and
// object returns false.
func (s *scanner) object(member func(key []byte)) bool {
	if s.peek() != '{' {
		s.skip()
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for !s.bad {
		if s.peek() != '"' {
			s.fail()
			return false
		}
		key := s.stringBytes()
		s.expect(':')
		if s.bad {
			return false
		}
		member(key)
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			s.fail()
		}
	}
	return false
}

// array consumes an array, calling elem with the scanner positioned at each
// element; elem must consume it. A value that is not an array is skipped.
func (s *scanner) array(elem func()) {
	if s.peek() != '[' {
		s.skip()
		return
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return
	}
	for !s.bad {
		elem()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return
		default:
			s.fail()
		}
	}
}
