package gen

import (
	"math"
	"math/rand/v2"
)

// vocabulary feeds the filler text. It mixes prose and code so that lines
// compress and tokenize roughly like real transcripts; every entry is safe
// inside a JSON string without escaping.
var vocabulary = []string{
	"the", "a", "to", "of", "and", "in", "is", "for", "that", "this", "with", "it", "on",
	"we", "need", "should", "file", "function", "return", "error", "value", "test", "tests",
	"update", "check", "let", "me", "look", "at", "now", "then", "first", "next", "done",
	"func", "package", "import", "const", "var", "type", "struct", "interface", "if", "else",
	"err", "nil", "ctx", "string", "int64", "bool", "map", "slice", "append", "len", "range",
	"config", "server", "handler", "request", "response", "json", "http", "api", "route",
	"database", "query", "index", "table", "column", "migration", "schema", "record", "batch",
	"component", "props", "state", "render", "export", "default", "async", "await", "promise",
	"src/", "internal/", "cmd/", "lib/", "main.go", "index.ts", "app.tsx", "README.md", "go.mod",
	"build", "lint", "fix", "refactor", "rename", "move", "delete", "create", "write", "read",
	"because", "so", "but", "when", "while", "which", "where", "there", "here", "all", "each",
	"user", "session", "token", "tokens", "cache", "model", "usage", "cost", "total", "daily",
	"=", "==", "!=", ":=", "{", "}", "(", ")", "[", "]", "=>", "->", "//", "#", "*", "+", "-",
	"1", "2", "3", "42", "100", "200", "404", "500", "0.5", "true", "false", "null",
	"TODO:", "NOTE:", "Error:", "warning:", "PASS", "FAIL", "ok", "---", "...", "line",
}

// escapes are JSON escape sequences sprinkled into the filler so that
// parsers see escaped newlines, tabs and quotes as real tool output has.
var escapes = []string{`\n`, `\n`, `\n`, `\n  `, `\t`, `\"`}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// textPool is a large block of JSON-string-safe filler. Slicing it is far
// cheaper than composing text per line, which keeps generation I/O bound.
type textPool struct {
	buf []byte
	sig []byte
}

// newTextPool builds size bytes of filler from rng.
func newTextPool(rng *rand.Rand, size int) *textPool {
	p := &textPool{buf: make([]byte, 0, size+64), sig: make([]byte, 0, 1<<16)}
	for len(p.buf) < size {
		if rng.IntN(9) == 0 {
			p.buf = append(p.buf, escapes[rng.IntN(len(escapes))]...)
			continue
		}
		p.buf = append(p.buf, vocabulary[rng.IntN(len(vocabulary))]...)
		p.buf = append(p.buf, ' ')
	}
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for len(p.sig) < cap(p.sig) {
		p.sig = append(p.sig, b64[rng.IntN(len(b64))])
	}
	return p
}

// text returns about n bytes of filler that are valid inside a JSON string:
// the slice never starts inside an escape sequence nor ends with half of one.
func (p *textPool) text(rng *rand.Rand, n int) []byte {
	if n <= 0 {
		return nil
	}
	if n > len(p.buf)-2 {
		n = len(p.buf) - 2
	}
	start := rng.IntN(len(p.buf) - n)
	end := start + n
	// Escapes are two bytes, so a backslash just before start means start
	// is the escaped character; skip it.
	if start > 0 && p.buf[start-1] == '\\' && !escapedBackslash(p.buf, start-1) {
		start++
	}
	for end > start && p.buf[end-1] == '\\' && !escapedBackslash(p.buf, end-1) {
		end--
	}
	return p.buf[start:end]
}

// escapedBackslash reports whether the backslash at i is itself the second
// byte of an escape. The pool holds no `\\` escapes, so it never is; the
// function keeps the slicing rule honest if the vocabulary grows one.
func escapedBackslash(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// signature returns n base64 characters, like a thinking block signature.
func (p *textPool) signature(rng *rand.Rand, n int) []byte {
	if n > len(p.sig) {
		n = len(p.sig)
	}
	start := rng.IntN(len(p.sig) - n + 1)
	return p.sig[start : start+n]
}

// appendUUID appends a random version-4 UUID.
func appendUUID(b []byte, rng *rand.Rand) []byte {
	const hex = "0123456789abcdef"
	hi, lo := rng.Uint64(), rng.Uint64()
	var u [16]byte
	for i := range 8 {
		u[i] = byte(hi >> (8 * i))
		u[8+i] = byte(lo >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&0x0f])
	}
	return b
}

// newUUID returns a random version-4 UUID string.
func newUUID(rng *rand.Rand) string {
	return string(appendUUID(make([]byte, 0, 36), rng))
}

// randomID returns prefix followed by n base62 characters, the shape of
// Anthropic message, request and tool-use ids.
func randomID(rng *rand.Rand, prefix string, n int) string {
	b := make([]byte, 0, len(prefix)+n)
	b = append(b, prefix...)
	for n > 0 {
		v := rng.Uint64()
		for k := 0; k < 10 && n > 0; k++ {
			b = append(b, base62[(v&63)%62])
			v >>= 6
			n--
		}
	}
	return string(b)
}

// randomHex returns n lowercase hex digits.
func randomHex(rng *rand.Rand, n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hex[rng.IntN(16)]
	}
	return string(b)
}

// logUniform returns an int64 in [lo, hi] whose logarithm is uniform, the
// rough shape of file sizes and token counts.
func logUniform(rng *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return int64(float64(lo) * math.Pow(float64(hi)/float64(lo), rng.Float64()))
}

// clip returns at most n bytes of JSON-string-safe text b without cutting
// an escape sequence in half.
func clip(b []byte, n int) []byte {
	if n >= len(b) {
		return b
	}
	b = b[:n]
	for len(b) > 0 && b[len(b)-1] == '\\' && !escapedBackslash(b, len(b)-1) {
		b = b[:len(b)-1]
	}
	return b
}
