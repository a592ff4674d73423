package web

import "testing"

// TestMustSubRejectsInvalidDir checks that a bad embed root fails loudly at
// start-up instead of serving an empty dashboard.
func TestMustSubRejectsInvalidDir(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("mustSub(static, %q) did not panic", "../static")
		}
	}()
	mustSub(static, "../static")
}
