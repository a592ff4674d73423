package server

import (
	"regexp"
	"strings"
	"testing"
)

// saneRequestID accepts 1 to 128 of the characters safe to log and echo,
// no more and nothing else.
func TestSaneRequestID(t *testing.T) {
	want := regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,128}$`)
	for _, id := range []string{"", "a", "abc-123", "a.b_c:d-e", "A9", "has space", "semi;colon", "é", "a\nb", "a\x00",
		strings.Repeat("x", 128), strings.Repeat("x", 129), strings.Repeat(":", 128)} {
		if got := saneRequestID(id); got != want.MatchString(id) {
			t.Errorf("saneRequestID(%q) = %v, want %v", id, got, !got)
		}
	}
}
