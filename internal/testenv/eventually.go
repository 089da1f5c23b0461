package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond every 20 ms until it reports true, and fails the test with cond's last
// explanation when timeout passes first. Tests synchronise with controllers this way, never by
// sleeping a guessed duration.
func Eventually(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
