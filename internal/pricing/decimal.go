package pricing

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
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
// maxMicros are errors.
func parseMicros(n json.Number) (micros, error) {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return 0, fmt.Errorf("%q is not a number", n)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("%s must not be negative", n)
	}
	r.Mul(r, big.NewRat(int64(oneMicros), 1))
	if !r.IsInt() {
		return 0, fmt.Errorf("%s has more than 6 decimal places", n)
	}
	v := r.Num()
	if !v.IsInt64() || v.Int64() > int64(maxMicros) {
		return 0, fmt.Errorf("%s is absurdly large", n)
	}
	return micros(v.Int64()), nil
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
// token that a record with those modifiers pays.
func scale(base micros, mults ...micros) int64 {
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
