package pricing

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// parseMicrosBig is the definition parseMicros keeps to: the number read
// exactly as a rational, times a million, which must be a whole number
// from 0 to maxMicros.
func parseMicrosBig(n json.Number) (micros, string) {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return 0, "not a number"
	}
	if r.Sign() < 0 {
		return 0, "negative"
	}
	r.Mul(r, big.NewRat(int64(oneMicros), 1))
	if !r.IsInt() {
		return 0, "places"
	}
	if v := r.Num(); !v.IsInt64() || v.Int64() > int64(maxMicros) {
		return 0, "large"
	} else {
		return micros(v.Int64()), ""
	}
}

func kindOf(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range []struct{ sub, kind string }{
		{"is not a number", "not a number"}, {"must not be negative", "negative"},
		{"more than 6 decimal places", "places"}, {"absurdly large", "large"},
	} {
		if strings.Contains(err.Error(), k.sub) {
			return k.kind
		}
	}
	return "unknown: " + err.Error()
}

func TestParseMicrosExact(t *testing.T) {
	cases := []string{
		"0", "-0", "0.0", "0e5", "0e-99", "1", "3", "0.5", "0.125", "3.75", "15",
		"0.000001", "0.0000001", "0.0000010", "1.0000000000", "1e-6", "1e-7", "10e-7", "1E+2", "1e0",
		"2.5e-1", "123456.789012", "123456.7890123", "1000000", "1000000.000001", "999999.999999",
		"1e6", "1e7", "1e12", "12e11", "1e400", "1e-400", "-1", "-0.5", "-1e-9", "-0.0",
		"00", "01", ".5", "1.", "+1", "1e", "1e+", "0x10", "1/2", "", "-", "1.5e3.2", "NaN", "Inf",
		"9223372036854775807", "9223372036854775808", "18446744073709551616", "1e18", "0.1e1",
		"100000000000000000000000000000e-24",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := strconv.FormatFloat(math.Abs(rng.NormFloat64())*math.Pow(10, float64(rng.IntN(16)-8)), 'g', rng.IntN(10)+1, 64)
		cases = append(cases, n)
	}
	// An exponent beyond math/big's range is still a number: zero, or
	// absurd, or too fine.
	for c, kind := range map[string]string{"0E-99999999999999999999": "", "1e99999999999999999999": "large", "1e-99999999999999999999": "places"} {
		if got, err := parseMicros(json.Number(c)); got != 0 || kindOf(err) != kind {
			t.Errorf("parseMicros(%q) = %d, %v; want 0, %s", c, got, err, kind)
		}
	}
	for _, c := range cases {
		want, wantKind := parseMicrosBig(json.Number(c))
		got, err := parseMicros(json.Number(c))
		// SetString takes forms JSON does not (".5", "+1", "1/2", "0x10");
		// the decoder never passes them, and parseMicros refuses them.
		if wantKind == "" && err != nil && kindOf(err) == "not a number" && !validJSONNumber(c) {
			continue
		}
		if got != want || kindOf(err) != wantKind {
			t.Errorf("parseMicros(%q) = %d, %v; want %d, %s", c, got, err, want, wantKind)
		}
	}
}

func validJSONNumber(s string) bool {
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}

func TestScaleExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func() micros {
		switch rng.IntN(4) {
		case 0:
			return oneMicros
		case 1:
			return micros(rng.Int64N(10)) * oneMicros / 4
		case 2:
			return micros(rng.Int64N(int64(maxMicros) + 1))
		}
		return micros(rng.Int64N(100_000_000))
	}
	for range 20000 {
		base := pick()
		mults := make([]micros, rng.IntN(5))
		for i := range mults {
			mults[i] = pick()
		}
		if got, want := scale(base, mults...), scaleBig(base, mults...); got != want {
			t.Fatalf("scale(%d, %v) = %d, want %d", base, mults, got, want)
		}
	}
	// Ties go to the even neighbour.
	for _, c := range []struct {
		base, mult micros
		want       int64
	}{{5, 500_000, 2}, {3, 500_000, 2}, {7, 500_000, 4}, {1, 500_001, 1}, {1, 499_999, 0}} {
		if got := scale(c.base, c.mult); got != c.want {
			t.Errorf("scale(%d, %d) = %d, want %d", c.base, c.mult, got, c.want)
		}
	}
}
