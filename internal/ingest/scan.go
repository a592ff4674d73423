package ingest

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner walks one JSON value in place. It decodes only the members it is
// asked for and skips every other value by matching quotes and brackets,
// without building anything: transcript lines are mostly long strings
// (content, tool results) that a usage reader never needs, and skipping them
// by their quotes with bytes.IndexByte is several times faster than a full
// decoder. On the way it notes which markers the line holds (see mark).
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
	// marks holds the markers (markUsage, ...) seen so far.
	marks uint8
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
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return s.b[s.i]
	}
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// atEnd reports whether only spaces are left.
func (s *scanner) atEnd() bool {
	s.ws()
	return s.i == len(s.b)
}

func (s *scanner) expect(c byte) {
	if s.peek() != c {
		s.fail()
		return
	}
	s.i++
}

// rawString consumes the string at s.i and returns its bytes between the
// quotes, still escaped.
func (s *scanner) rawString() []byte {
	if s.peek() != '"' {
		s.fail()
		return nil
	}
	open := s.i
	q := stringEnd(s.b, open)
	if q < 0 {
		s.fail()
		return nil
	}
	s.mark(q)
	s.i = q + 1
	return s.b[open+1 : q]
}

// shortString is how far stringEnd looks byte by byte before it calls
// bytes.IndexByte: most strings are keys and ids, shorter than a call.
const shortString = 16

// stringEnd returns the index of the quote that closes the string whose
// opening quote is b[open], or -1 when it is not closed. A quote closes it
// unless an odd run of backslashes comes before it, so only quotes are
// searched for: escapes such as \n, frequent in content, cost nothing.
func stringEnd(b []byte, open int) int {
	j := open + 1
	for n := min(len(b), j+shortString); j < n; j++ {
		if c := b[j]; c == '"' {
			return j
		} else if c == '\\' {
			break
		}
	}
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1
		}
		q += j
		if b[q-1] != '\\' || !oddBackslashes(b[open+1:q]) {
			return q
		}
		j = q + 1
	}
}

// oddBackslashes reports whether b ends in an odd number of backslashes,
// which escape the byte after b.
func oddBackslashes(b []byte) bool {
	n := 0
	for n < len(b) && b[len(b)-1-n] == '\\' {
		n++
	}
	return n%2 == 1
}

// Markers that the scanner notes when it sees them (see mark).
const (
	markUsage     = 1 << iota // "usage"
	markUser                  // "user"
	markToolUseID             // "tool_use_id"
)

// mark notes the markers that end at b[q], a quote that opens or closes a
// string. Each marker ends in a quote after a letter, which no escape can
// be, so in a line that the scanner walks to its end every occurrence of a
// marker ends at such a quote: s.marks then says what bytes.Contains
// would, without another pass over the line. Only skipNested needs to call
// it for opening quotes: elsewhere the byte before one is a space or one
// of ,:[{, never the end of a marker.
func (s *scanner) mark(q int) {
	if c := s.b[q-1]; c == 'e' || c == 'r' || c == 'd' {
		s.markSlow(q)
	}
}

func (s *scanner) markSlow(q int) {
	b := s.b
	switch {
	case q < 5:
	case b[q-1] == 'e':
		if q >= 6 && string(b[q-6:q]) == `"usage` {
			s.marks |= markUsage
		}
	case b[q-1] == 'r':
		if string(b[q-5:q]) == `"user` {
			s.marks |= markUser
		}
	case b[q-1] == 'd':
		if q >= 12 && string(b[q-12:q]) == `"tool_use_id` {
			s.marks |= markToolUseID
		}
	}
}

// plainLen returns the length of the run of plain bytes that b starts
// with: printable ASCII but the quote and the backslash, which a string can
// be returned as without decoding. It looks at 8 bytes at a time.
func plainLen(b []byte) int {
	n := 0
	for ; n+8 <= len(b); n += 8 {
		if stop := stops(binary.LittleEndian.Uint64(b[n:])); stop != 0 {
			return n + bits.TrailingZeros64(stop)>>3
		}
	}
	for ; n < len(b); n++ {
		if c := b[n]; c < ' ' || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			break
		}
	}
	return n
}

// stops returns w, 8 bytes read little-endian, with the high bit of each
// byte set where the byte is not plain (a quote, a backslash, below ' ',
// not ASCII) and every other bit clear. Each byte is reckoned alone (7-bit
// sums never carry), so the lowest set bit is the first such byte.
func stops(w uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
		lows  = 0x7f7f7f7f7f7f7f7f
	)
	q, bs := w^('"'*ones), w^('\\'*ones)
	return (^((q & lows) + lows | q) | ^((bs & lows) + lows | bs) | ^((w & lows) + (0x80-' ')*ones) | w) & highs
}

// stringBytes consumes a value and returns it decoded when it is a string,
// or nil for any other value. The result aliases the line unless the string
// has escapes or invalid UTF-8; those are decoded exactly as encoding/json
// would (see unquote).
func (s *scanner) stringBytes() []byte {
	if s.peek() != '"' {
		s.skip()
		return nil
	}
	// Short plain strings (keys, ids, names) in one pass; most keys end
	// in the first 8 bytes. Longer strings are left to rawString, whose
	// bytes.IndexByte scans long content faster than 8 bytes at a time.
	b, open := s.b, s.i
	j := open + 1
	if j+8 <= len(b) {
		if stop := stops(binary.LittleEndian.Uint64(b[j:])); stop != 0 {
			j += bits.TrailingZeros64(stop) >> 3
		} else {
			j += 8 + plainLen(b[j+8:min(len(b), open+1+4*shortString)])
		}
	} else {
		j += plainLen(b[j:])
	}
	if j < len(b) && b[j] == '"' {
		s.mark(j)
		s.i = j + 1
		return b[open+1 : j]
	}
	raw := s.rawString()
	if s.bad {
		return nil
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return raw
	}
	str, ok := unquote(raw)
	if !ok {
		s.fail()
		return nil
	}
	return str
}

// unquote decodes the body of a JSON string as json.Unmarshal into a
// string does: it fails where encoding/json reports a syntax error (a
// control character, an unknown escape, a short \u), replaces invalid
// UTF-8 and unpaired surrogates with U+FFFD, and joins surrogate pairs.
func unquote(raw []byte) ([]byte, bool) {
	out := make([]byte, 0, len(raw)+utf8.UTFMax)
	for i := 0; i < len(raw); {
		if n := plainLen(raw[i:]); n > 0 {
			out = append(out, raw[i:i+n]...)
			if i += n; i == len(raw) {
				break
			}
		}
		c := raw[i]
		switch {
		case c == '\\':
			if i+1 >= len(raw) {
				return nil, false
			}
			switch e := raw[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(raw[i+2:])
				if r < 0 {
					return nil, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2 = hex4(raw[i+2:])
					}
					if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
						out = utf8.AppendRune(out, dec)
						i += 6
						continue
					}
					r = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return nil, false
			}
			i += 2
		case c < ' ':
			return nil, false
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, r)
			} else {
				out = append(out, raw[i:i+size]...)
			}
			i += size
		}
	}
	return out, true
}

// hex4 returns the value of the four hex digits that b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
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
			// Here any byte can come before a string.
			if s.i > 0 {
				s.mark(s.i)
			}
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
		if s.i < len(s.b) && s.b[s.i] == ':' {
			s.i++
		} else {
			s.expect(':')
		}
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
