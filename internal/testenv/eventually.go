package testenv

import (
	"testing"
	"time"
)

// Eventually waits until cond holds and fails the test, naming what it
// waited for, if it does not within timeout. cond runs at once, then after
// pauses that grow from 5 ms to 100 ms: a test waits for the event it
// expects, not for a fixed time that is too long on a fast machine and too
// short on a loaded one. cond runs on the test's goroutine, so it may fail
// the test itself.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}
