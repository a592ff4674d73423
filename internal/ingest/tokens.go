package ingest

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// MaxTokenCount bounds each token count of one API response. No model
// reads or writes a billion tokens in one request, so a larger value is a
// corrupt line, and rejecting it keeps sums far from int64 overflow.
const MaxTokenCount = 1_000_000_000

// ErrBadValue is wrapped by ParseLine's error when the line holds a usable
// record but some value in it was out of range and replaced: a negative
// token count is read as 0.
var ErrBadValue = errors.New("out-of-range value in a transcript line")

// tokenInt converts a JSON number like numberToInt, except that a number
// beyond int64 saturates instead of reading as 0, so that the bound check
// sees it and rejects the line.
func tokenInt(num []byte) int64 {
	n := numberToInt(num)
	if n != 0 || len(num) < 2 {
		return n
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0
	}
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return n
}

// checkTokens enforces the range of a record's counts: a count over
// MaxTokenCount rejects the line (the error wraps ErrBadLine), a negative
// one is set to 0 (the error wraps ErrBadValue); nil when all are sane.
func checkTokens(t *usage.Tokens) error {
	// Values, not pointers into t: a pointer kept in a local array made
	// t, and with it every record being parsed, escape to the heap.
	vals := [...]int64{t.Input, t.Output, t.CacheCreation5m, t.CacheCreation1h, t.CacheRead, t.WebSearchRequests}
	for i, v := range vals {
		if v > MaxTokenCount {
			return fmt.Errorf("%w: %s = %d exceeds %d", ErrBadLine, tokenFields[i], v, MaxTokenCount)
		}
	}
	var negative []string
	for i, v := range vals {
		if v < 0 {
			negative = append(negative, tokenFields[i])
		}
	}
	if len(negative) == 0 {
		return nil
	}
	t.Input, t.Output, t.CacheCreation5m = max(t.Input, 0), max(t.Output, 0), max(t.CacheCreation5m, 0)
	t.CacheCreation1h, t.CacheRead, t.WebSearchRequests = max(t.CacheCreation1h, 0), max(t.CacheRead, 0), max(t.WebSearchRequests, 0)
	return fmt.Errorf("%w: negative %v read as 0", ErrBadValue, negative)
}

// tokenFields names the counts checkTokens checks, in its order.
var tokenFields = [...]string{"input_tokens", "output_tokens", "cache_creation_5m_tokens",
	"cache_creation_1h_tokens", "cache_read_tokens", "web_search_requests"}
