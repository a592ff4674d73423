package usage

import (
	"math"
	"testing"
)

func TestTokensAddSaturates(t *testing.T) {
	big := Tokens{Input: math.MaxInt64, Output: math.MaxInt64 - 1, CacheRead: 1}
	got := big.Add(big)
	want := Tokens{Input: math.MaxInt64, Output: math.MaxInt64, CacheRead: 2}
	if got != want {
		t.Errorf("Add = %+v, want %+v", got, want)
	}
	if total := got.Total(); total != math.MaxInt64 {
		t.Errorf("Total = %d, want %d", total, int64(math.MaxInt64))
	}
	if p := (Tokens{Input: math.MaxInt64, CacheCreation5m: 1, CacheCreation1h: math.MaxInt64}).Prompt(); p != math.MaxInt64 {
		t.Errorf("Prompt = %d, want saturated", p)
	}
	neg := Tokens{Input: math.MinInt64}
	if got := neg.Add(Tokens{Input: -1}); got.Input != math.MinInt64 {
		t.Errorf("Add of negatives = %d, want %d", got.Input, int64(math.MinInt64))
	}
	for _, tc := range []struct{ a, b, want int64 }{
		{1, 2, 3}, {-5, 3, -2}, {math.MaxInt64, -1, math.MaxInt64 - 1}, {math.MinInt64, math.MaxInt64, -1},
	} {
		if got := SatAdd(tc.a, tc.b); got != tc.want {
			t.Errorf("SatAdd(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
