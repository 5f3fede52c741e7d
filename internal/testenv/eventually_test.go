package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	Eventually(t, 10*time.Second, "the third call", func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Fatalf("cond ran %d times, want 3", calls)
	}
}

// fatalTB records a Fatalf instead of stopping the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f) // stops Eventually as FailNow's Goexit would
}

func TestEventuallyFailsNamingWhatItWaitedFor(t *testing.T) {
	f := &fatalTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != f {
				panic(r)
			}
		}()
		Eventually(f, 20*time.Millisecond, "a condition that never holds", func() bool { return false })
	}()
	if !strings.Contains(f.msg, "a condition that never holds") {
		t.Fatalf("failure message %q does not say what was awaited", f.msg)
	}
}
