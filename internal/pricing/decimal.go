package pricing

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
)

// micros is a decimal with six places, stored as an integer: a rate of
// 0.125 USD per million tokens is 125000, which is also its price in
// picodollars (1e-12 USD) per token. Every figure of a price file is read
// into micros exactly, so no price ever passes through floating point.
type micros int64

// oneMicros is 1 in micros: the multiplier that changes nothing.
const oneMicros micros = 1_000_000

// maxMicros bounds every figure of a price file: no rate reaches a million
// dollars per million tokens, and the bound keeps the products of prices
// well inside the range big.Int rounds back into an int64.
const maxMicros = micros(1_000_000) * oneMicros

// parseMicros reads a JSON number (plain or with an exponent) exactly.
// More than six decimal places, negative numbers and values above
// maxMicros are errors. It works on the digits, in integers: every
// process reads the embedded table at start, and math/big cost a quarter
// of that.
func parseMicros(n json.Number) (micros, error) {
	neg, digits, exp, ok := splitDecimal(string(n))
	if !ok {
		return 0, fmt.Errorf("%q is not a number", n)
	}
	// The value is digits * 10^exp; in micros, digits * 10^(exp+6).
	digits = strings.TrimLeft(digits, "0")
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if digits == "" {
		return 0, nil // zero, also -0 and 0e99
	}
	if neg {
		return 0, fmt.Errorf("%s must not be negative", n)
	}
	shift := exp + 6
	if shift < 0 {
		return 0, fmt.Errorf("%s has more than 6 decimal places", n)
	}
	// maxMicros has 13 digits; a longer value is above it.
	if int64(len(digits))+shift > 13 {
		return 0, fmt.Errorf("%s is absurdly large", n)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", n)
	}
	for range shift {
		v *= 10
	}
	if v > int64(maxMicros) {
		return 0, fmt.Errorf("%s is absurdly large", n)
	}
	return micros(v), nil
}

// splitDecimal splits a number in JSON's syntax into its sign, its digits
// (those of the integer part, then those of the fraction) and the power of
// ten that the digits are multiplied by. ok is false for anything else.
func splitDecimal(s string) (neg bool, digits string, exp int64, ok bool) {
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	i := digitRun(s)
	if i == 0 || (s[0] == '0' && i > 1) {
		return false, "", 0, false // no digits, or a leading zero
	}
	intPart, s := s[:i], s[i:]
	frac := ""
	if strings.HasPrefix(s, ".") {
		j := digitRun(s[1:])
		if j == 0 {
			return false, "", 0, false
		}
		frac, s = s[1:1+j], s[1+j:]
	}
	if s != "" {
		if s[0] != 'e' && s[0] != 'E' {
			return false, "", 0, false
		}
		s = s[1:]
		eneg := false
		if s != "" && (s[0] == '+' || s[0] == '-') {
			eneg, s = s[0] == '-', s[1:]
		}
		if digitRun(s) != len(s) || s == "" {
			return false, "", 0, false
		}
		// An exponent this large makes any nonzero value absurd (or
		// smaller than a micro); it is clamped so the sums cannot wrap.
		e, err := strconv.ParseInt(s, 10, 64)
		if err != nil || e > 1<<20 {
			e = 1 << 20
		}
		if eneg {
			e = -e
		}
		exp = e
	}
	return neg, intPart + frac, exp - int64(len(frac)), true
}

// digitRun returns how many ASCII digits s starts with.
func digitRun(s string) int {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// number returns m as the shortest exact JSON number.
func (m micros) number() json.Number {
	whole, frac := int64(m)/int64(oneMicros), int64(m)%int64(oneMicros)
	s := strconv.FormatInt(whole, 10)
	if frac != 0 {
		f := strconv.FormatInt(frac, 10)
		s += "." + strings.TrimRight(strings.Repeat("0", 6-len(f))+f, "0")
	}
	return json.Number(s)
}

// scale returns base * m1 * m2 * ... (each a multiplier in micros),
// rounded half to even to a whole number: the rate in picodollars per
// token that a record with those modifiers pays. Products that fit in 64
// bits (nearly all: a rate times one or two multipliers) are computed
// there; the rest in math/big.
func scale(base micros, mults ...micros) int64 {
	num, den := uint64(base), uint64(1)
	fits := base >= 0 && len(mults) <= 3 // 10^18 < 2^64
	for _, m := range mults {
		if !fits {
			break
		}
		hi, lo := bits.Mul64(num, uint64(m))
		fits = m >= 0 && hi == 0
		num, den = lo, den*uint64(oneMicros)
	}
	if !fits {
		return scaleBig(base, mults...)
	}
	q, r := num/den, num%den
	// Round half to even: compare twice the remainder with the divisor
	// (2r < 2^64, as r < den <= 10^18).
	if c := 2 * r; c > den || c == den && q&1 == 1 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// scaleBig is scale in math/big, for products beyond 64 bits.
func scaleBig(base micros, mults ...micros) int64 {
	num := big.NewInt(int64(base))
	den := big.NewInt(1)
	for _, m := range mults {
		num.Mul(num, big.NewInt(int64(m)))
		den.Mul(den, big.NewInt(int64(oneMicros)))
	}
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	// Round half to even: compare twice the remainder with the divisor.
	switch c := r.Lsh(r, 1).Cmp(den); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return math.MaxInt64
	}
	return q.Int64()
}

// errMissing is returned for a required figure that a price file leaves out.
var errMissing = errors.New("is missing")
