package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// parseDotenv reads KEY=VALUE lines in the common .env dialect: blank lines
// and '#' comments are skipped, an optional "export " prefix is dropped,
// values may be double-quoted (with \n, \t, \\ and \" escapes),
// single-quoted (literal) or bare (trimmed, ending at a " #" comment). A
// later line wins over an earlier one. Errors name the file and the line;
// they never quote the line, which may hold a secret.
func parseDotenv(r io.Reader, name string) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	// Allow long values such as certificates; the default 64 KB is tight.
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		key, value, ok, err := parseDotenvLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if ok {
			vars[key] = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return vars, nil
}

// parseDotenvLine parses one line; ok is false for blank and comment lines.
func parseDotenvLine(line string) (key, value string, ok bool, err error) {
	s := strings.TrimSpace(line)
	if s == "" || s[0] == '#' {
		return "", "", false, nil
	}
	if rest, found := strings.CutPrefix(s, "export"); found && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimSpace(rest)
	}
	key, raw, found := strings.Cut(s, "=")
	if !found {
		return "", "", false, errors.New("expected KEY=VALUE")
	}
	key = strings.TrimSpace(key)
	if !validKey(key) {
		return "", "", false, fmt.Errorf("%q is not a valid variable name", key)
	}
	value, err = parseDotenvValue(raw)
	if err != nil {
		return "", "", false, fmt.Errorf("%s: %w", key, err)
	}
	return key, value, true, nil
}

func parseDotenvValue(raw string) (string, error) {
	trimmed := strings.TrimLeft(raw, " \t")
	if trimmed == "" {
		return "", nil
	}
	switch q := trimmed[0]; q {
	case '"', '\'':
		var b strings.Builder
		for i := 1; i < len(trimmed); i++ {
			c := trimmed[i]
			switch {
			case c == q:
				rest := strings.TrimSpace(trimmed[i+1:])
				if rest != "" && rest[0] != '#' {
					return "", errors.New("unexpected text after the closing quote")
				}
				return b.String(), nil
			case c == '\\' && q == '"' && i+1 < len(trimmed):
				i++
				switch e := trimmed[i]; e {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case '"', '\\':
					b.WriteByte(e)
				default:
					b.WriteByte('\\')
					b.WriteByte(e)
				}
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated quoted value")
	}
	// A bare value ends at a '#' that follows whitespace, so "a#b" keeps
	// its '#' while "a # note" is "a".
	for i := 1; i < len(raw); i++ {
		if raw[i] == '#' && (raw[i-1] == ' ' || raw[i-1] == '\t') {
			raw = raw[:i]
			break
		}
	}
	return strings.TrimSpace(raw), nil
}

// validKey reports whether k is a shell variable name.
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c != '_' && !('A' <= c && c <= 'Z') && !('a' <= c && c <= 'z') && !(i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
