package webhook

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary headers and bodies to Verify, which must never
// panic, and checks that whatever Sign produces for them verifies.
func FuzzVerify(f *testing.F) {
	f.Add(specID, "1614265330", specSignature, []byte(specBody))
	f.Add(specID, "1614265330", "v1,"+strings.Repeat("A", 44)+" v1,x v2,y", []byte(`{}`))
	f.Add("", "", "", []byte(nil))
	f.Add("msg", "-1", ",,,", []byte("\xff\xfe"))
	f.Add("msg.with.dots", "00001614265330", "v1", []byte("body"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		now := time.Unix(specTimestamp, 0)
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		if err := Verify(specSecret, h, body, now); err == nil && sig == "" {
			t.Fatalf("Verify accepted an empty signature")
		}

		if id == "" {
			return
		}
		good, err := Sign(specSecret, id, now, body)
		if err != nil {
			t.Fatalf("Sign(%q): %v", id, err)
		}
		h.Set(HeaderTimestamp, "1614265330")
		h.Set(HeaderSignature, sig+" "+good)
		if err := Verify(specSecret, h, body, now); err != nil {
			t.Fatalf("Verify(Sign(...)) with extra signature %q: %v", sig, err)
		}
	})
}

// FuzzParseSchedule checks that ParseSchedule never panics and that whatever
// it accepts keeps the Schedule invariants.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"", "0", "1s,2s,4s", "0,5s,5m,30m,2h,5h,10h,14h,20h,24h", "1s,,2s", "-1s", "1h30m", "9999999999h", "0,0", "5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSchedule(in)
		if err != nil {
			return
		}
		if len(s) == 0 || s.MaxRetry() != len(s) {
			t.Fatalf("ParseSchedule(%q) = %v: empty or MaxRetry mismatch", in, s)
		}
		for i, d := range s {
			if d <= 0 || d > MaxScheduleDelay {
				t.Fatalf("ParseSchedule(%q)[%d] = %s, out of range", in, i, d)
			}
			if got := s.Delay(i); got < d || got > d+MaxJitter {
				t.Fatalf("Delay(%d) = %s, want within [%s, %s]", i, got, d, d+MaxJitter)
			}
		}
		back, err := ParseSchedule(s.String())
		if err != nil || !slices.Equal(back, s) {
			t.Fatalf("ParseSchedule(%q).String() = %q parses back to %v, %v", in, s.String(), back, err)
		}
	})
}
