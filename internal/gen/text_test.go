package gen

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"testing"
)

func TestTextIsAlwaysAValidJSONString(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := newTextPool(rng, 64<<10)
	for i := range 5000 {
		n := 1 + rng.IntN(2000)
		if i%500 == 0 {
			n = 1 << 20 // longer than the pool: clamped
		}
		s := p.text(rng, n)
		if !json.Valid([]byte(`"` + string(s) + `"`)) {
			t.Fatalf("text(%d) is not a valid JSON string body: %q", n, s)
		}
		c := clip(s, rng.IntN(len(s)+2))
		if !json.Valid([]byte(`"` + string(c) + `"`)) {
			t.Fatalf("clip of text is not a valid JSON string body: %q", c)
		}
	}
	if got := p.text(rng, 0); got != nil {
		t.Errorf("text(0) = %q, want nil", got)
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{`abc`, 5, `abc`},
		{`abc`, 2, `ab`},
		{`ab\n`, 3, `ab`},
		{`a\\b`, 3, `a\\`},
		{`a\\\n`, 4, `a\\`},
	}
	for _, tt := range tests {
		if got := string(clip([]byte(tt.in), tt.n)); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		u := newUUID(rng)
		if !uuidRE.MatchString(u) || seen[u] {
			t.Fatalf("newUUID = %q: not a fresh v4 UUID", u)
		}
		seen[u] = true
	}
	if id := randomID(rng, "msg_01", 22); !regexp.MustCompile(`^msg_01[0-9A-Za-z]{22}$`).MatchString(id) {
		t.Errorf("randomID = %q, want msg_01 + 22 base62 characters", id)
	}
	if h := randomHex(rng, 7); !regexp.MustCompile(`^[0-9a-f]{7}$`).MatchString(h) {
		t.Errorf("randomHex(7) = %q", h)
	}
	for range 1000 {
		if v := logUniform(rng, 10, 1000); v < 10 || v > 1000 {
			t.Fatalf("logUniform(10, 1000) = %d, out of range", v)
		}
	}
	if v := logUniform(rng, 5, 5); v != 5 {
		t.Errorf("logUniform(5, 5) = %d, want 5", v)
	}
}
