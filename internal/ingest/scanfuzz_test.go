package ingest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// legacyString is the scanner's string reading before it searched only for
// quotes and decoded escapes itself: each backslash skipped the byte after
// it, and strings with escapes or invalid UTF-8 went to encoding/json. It
// returns the decoded string (nil for a failure) and the index past the
// closing quote (-1 for a failure) of the string that opens at b[0].
func legacyString(b []byte) (str []byte, end int) {
	start := 1
	j := start
	escaped := false
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return nil, -1
		}
		q += j
		for j <= q {
			bs := bytes.IndexByte(b[j:q], '\\')
			if bs < 0 {
				raw := b[start:q]
				if !escaped && utf8.Valid(raw) {
					return raw, q + 1
				}
				var s string
				if err := json.Unmarshal(b[:q+1], &s); err != nil {
					return nil, -1
				}
				return []byte(s), q + 1
			}
			escaped = true
			j += bs + 2
		}
	}
}

// FuzzStringBytes checks scanner.stringBytes and scanner.skip against
// legacyString on any bytes after a quote: the same value, the same end,
// the same failures.
func FuzzStringBytes(f *testing.F) {
	for _, s := range []string{
		`"abc"`, `"a\"b"`, `"a\\"b"`, `"a\\\"b"`, `"\\\\"`, `"\"`, `"`, `""`,
		`"\u00e9\ud83d\ude00\ud800x\udc00\ud800\u0041"`, `"\ud800\u"`, `"\u12"`, `"\x"`, `"\'"`,
		"\"tab\there\"", "\"\xff\xfe\"", "\"\xff\x01\"", "\"\xed\xa0\x80\"", `"\/\b\f\n\r\t"`,
		`"usage"`, `"tool_use_id"`, `"` + string(bytes.Repeat([]byte("é\\n"), 40)) + `"`,
	} {
		f.Add([]byte(s[1:]))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		plain := 0
		for plain < len(body) && body[plain] >= ' ' && body[plain] < utf8.RuneSelf && body[plain] != '"' && body[plain] != '\\' {
			plain++
		}
		if got := plainLen(body); got != plain {
			t.Fatalf("plainLen(%q) = %d, want %d", body, got, plain)
		}
		b := append([]byte{'"'}, body...)
		want, wantEnd := legacyString(b)
		s := scanner{b: b}
		got := s.stringBytes()
		if s.bad != (wantEnd < 0) || (!s.bad && (s.i != wantEnd || !bytes.Equal(got, want))) {
			t.Fatalf("stringBytes(%q) = %q, end %d, bad %v; legacy %q, end %d", b, got, s.i, s.bad, want, wantEnd)
		}
		// A string that only needs skipping ends in the same place, even
		// when it does not decode.
		_, skipEnd := legacyRaw(b)
		s = scanner{b: b}
		s.skip()
		if s.bad != (skipEnd < 0) || (!s.bad && s.i != skipEnd) {
			t.Fatalf("skip(%q): end %d, bad %v; legacy end %d", b, s.i, s.bad, skipEnd)
		}
	})
}

// legacyRaw is legacyString without the decoding: where the string that
// opens at b[0] ends, or -1.
func legacyRaw(b []byte) ([]byte, int) {
	j := 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return nil, -1
		}
		q += j
		for j <= q {
			bs := bytes.IndexByte(b[j:q], '\\')
			if bs < 0 {
				return b[1:q], q + 1
			}
			j += bs + 2
		}
	}
}

// FuzzTimestamp checks parseTimestamp against time.Parse.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{
		"2026-01-18T16:45:24.870Z", "2026-01-18T16:45:24Z", "2024-02-29T23:59:59.123456789Z", "2023-02-29T00:00:00Z",
		"2026-13-01T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z",
		"2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567890Z", "2026-01-01T00:00:00+02:00", "2026-01-01t00:00:00z",
		"0000-01-01T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z",
		"", "2026-01-01", "+026-01-01T00:00:00Z", "2026-01-01T00:00:00.-1Z",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := parseTimestamp(b)
		want, wantErr := time.Parse(time.RFC3339Nano, string(b))
		if (gotErr != nil) != (wantErr != nil) || !reflect.DeepEqual(got.UTC(), want.UTC()) {
			t.Fatalf("parseTimestamp(%q) = %v, %v; time.Parse = %v, %v", b, got, gotErr, want, wantErr)
		}
	})
}

// TestTimestampGrid checks parseTimestamp against time.Parse on every
// combination of fields at and past their bounds, fractions of every
// length, and the forms the fast path leaves to time.Parse.
func TestTimestampGrid(t *testing.T) {
	years := []string{"0000", "0999", "1900", "2000", "2024", "9999", "+999"}
	months := []string{"00", "02", "04", "12", "13"}
	days := []string{"00", "28", "29", "30", "31", "32"}
	clocks := []string{"00:00:00", "23:59:59", "23:59:60", "24:00:00", "00:60:00", "0a:00:00"}
	fracs := []string{"", ".", ",5", ".5", ".870", ".123456789", ".1234567890", ".-1", ".5a"}
	zones := []string{"Z", "z", "+00:00", "+05:30", "-24:00", "", "ZZ"}
	for _, y := range years {
		for _, mo := range months {
			for _, d := range days {
				for _, sep := range []string{"T", "t"} {
					for _, c := range clocks {
						for _, f := range fracs {
							for _, z := range zones {
								s := y + "-" + mo + "-" + d + sep + c + f + z
								got, gotErr := parseTimestamp([]byte(s))
								want, wantErr := time.Parse(time.RFC3339Nano, s)
								if (gotErr != nil) != (wantErr != nil) || !reflect.DeepEqual(got.UTC(), want.UTC()) {
									t.Fatalf("parseTimestamp(%q) = %v, %v; time.Parse = %v, %v", s, got, gotErr, want, wantErr)
								}
							}
						}
					}
				}
			}
		}
	}
}
