package webhook_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/reportd/reportd/internal/webhook"
)

// A receiver reads the raw body, verifies it before parsing it, and
// de-duplicates on webhook-id.
func ExampleVerify() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, "invalid webhook", http.StatusUnauthorized)
			return
		}
		// Skip r.Header.Get("webhook-id") if already processed, then handle body.
		w.WriteHeader(http.StatusNoContent)
	}
	_ = handler

	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)

	fmt.Println(webhook.Verify(secret, h, body, time.Unix(1614265330, 0)))
	err := webhook.Verify(secret, h, body, time.Unix(1614265330, 0).Add(time.Hour))
	fmt.Println(errors.Is(err, webhook.ErrTimestampOutOfTolerance))
	// Output:
	// <nil>
	// true
}

// A schedule from configuration (WEBHOOK_RETRY_SCHEDULE); tests use seconds.
func ExampleSchedule() {
	s, err := webhook.ParseSchedule("0,5s,5m,30m")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.MaxRetry(), "retries:", s)
	fmt.Println("Retry-After cap before the 2nd retry:", s.RetryAfterCap(1))

	_, err = webhook.ParseSchedule("5s,5x")
	fmt.Println(err)
	// Output:
	// 3 retries: 5s,5m,30m
	// Retry-After cap before the 2nd retry: 10m0s
	// parse retry schedule: element 2 "5x": not a duration like 30s or 5m
}
