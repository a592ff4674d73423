package usage

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Money is an amount of US dollars in units of 1e-10 USD. Costs are
// computed and summed as integers so that every view, every run and every
// order of summation gives the same digits; floating point gave a
// different last digit depending on the order buckets were added in.
// An int64 holds about 922 million dollars.
type Money int64

// MoneyPerUSD is the number of Money units in one US dollar.
const MoneyPerUSD = 10_000_000_000

// moneyDigits is the number of decimal places a Money value has.
const moneyDigits = 10

// Add returns m + n, saturating at the int64 limits instead of wrapping:
// a sum that large is wrong either way, but a wrapped one would show a
// negative cost.
func (m Money) Add(n Money) Money {
	s := m + n
	if (s > m) != (n > 0) {
		if n > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

// USD returns m as a float, for ratios and charts; never sum these.
func (m Money) USD() float64 { return float64(m) / MoneyPerUSD }

// String returns m as an exact decimal number of dollars without trailing
// zeros, e.g. "38.37409955", "0" or "-0.5".
func (m Money) String() string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u
	}
	whole, frac := u/MoneyPerUSD, u%MoneyPerUSD
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(strconv.FormatUint(whole, 10))
	if frac != 0 {
		digits := strconv.FormatUint(frac, 10)
		b.WriteByte('.')
		b.WriteString(strings.Repeat("0", moneyDigits-len(digits)))
		b.WriteString(strings.TrimRight(digits, "0"))
	}
	return b.String()
}

// Fixed returns m rounded half away from zero to places decimals (0 to
// 10), e.g. Fixed(2) of 2.475 is "2.48". Tables show cents with it, from
// the exact amount, so a column of rounded figures never depends on
// floating point.
func (m Money) Fixed(places int) string {
	places = min(max(places, 0), moneyDigits)
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u
	}
	step := uint64(1)
	for range moneyDigits - places {
		step *= 10
	}
	q := u / step
	if u%step >= (step+1)/2 && step > 1 {
		q++
	}
	s := strconv.FormatUint(q, 10)
	if places > 0 {
		if len(s) <= places {
			s = strings.Repeat("0", places-len(s)+1) + s
		}
		s = s[:len(s)-places] + "." + s[len(s)-places:]
	}
	if neg && strings.Trim(s, "0.") != "" {
		s = "-" + s
	}
	return s
}

// MarshalJSON writes m as an exact JSON number of dollars.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON reads a JSON number of dollars exactly; digits beyond the
// tenth decimal place are an error rather than silently rounded.
func (m *Money) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := ParseMoney(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMoney parses a decimal number of dollars such as "12", "-0.5" or
// "3.4575217" exactly. Exponents, more than ten decimal places and values
// beyond Money's range are errors.
func ParseMoney(s string) (Money, error) {
	t := s
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	whole, frac, _ := strings.Cut(t, ".")
	if whole == "" || !allDigits(whole) || !allDigits(frac) || strings.ContainsAny(t, "eE+") {
		return 0, errors.New("cost " + strconv.Quote(s) + " is not a plain decimal number")
	}
	if len(frac) > moneyDigits {
		return 0, errors.New("cost " + strconv.Quote(s) + " has more than 10 decimal places")
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > math.MaxInt64/MoneyPerUSD {
		return 0, errors.New("cost " + strconv.Quote(s) + " is out of range")
	}
	f := uint64(0)
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", moneyDigits-len(frac)), 10, 64)
	}
	v := Money(w*MoneyPerUSD + f)
	if v < 0 {
		return 0, errors.New("cost " + strconv.Quote(s) + " is out of range")
	}
	if neg {
		v = -v
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
