package claude

import (
	"testing"
	"time"
)

// ShiftClock dates listings d later than they are taken until the test
// ends, so that a test can change folders without waiting out racyMargin.
func ShiftClock(t *testing.T, d time.Duration) {
	old := now
	now = func() time.Time { return time.Now().Add(d) }
	t.Cleanup(func() { now = old })
}
