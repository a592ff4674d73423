package ingest

import "time"

// parseTimestamp is time.Parse(time.RFC3339Nano, string(b)) with a fast
// path for the form Claude Code writes, "2026-01-18T16:45:24.870Z": time.Parse
// was a tenth of a usage line's cost. Any other form, and any value out
// of range, takes time.Parse itself, so the results are the same.
func parseTimestamp(b []byte) (time.Time, error) {
	if t, ok := fastTimestamp(b); ok {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, string(b))
}

// fastTimestamp reads YYYY-MM-DDTHH:MM:SS[.F]Z, F of 1 to 9 digits, with
// every field in range; ok is false for anything else.
func fastTimestamp(b []byte) (t time.Time, ok bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return t, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return t, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return t, false
		}
		n, ok := digits(frac[1:])
		if !ok {
			return t, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			n *= 10
		}
		nsec = n
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// digits returns the value of b, which must be all decimal digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
