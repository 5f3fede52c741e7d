package webhook_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// verifyV1a is the README's stdlib-only v1a check, kept here so it runs.
func verifyV1a(keys []ed25519.PublicKey, h http.Header, body []byte) bool {
	signed := append([]byte(h.Get("webhook-id")+"."+h.Get("webhook-timestamp")+"."), body...)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1a,"))
		if !strings.HasPrefix(sig, "v1a,") || err != nil {
			continue
		}
		for _, k := range keys { // each JWK's x, base64url-decoded
			if ed25519.Verify(k, signed, raw) {
				return true
			}
		}
	}
	return false // and check webhook-timestamp is within 5 minutes of now
}

// A receiver verifies v1a with nothing but the standard library, and the
// public keys of GET /v1/webhook-keys, as the README shows.
func ExampleVerify_v1a() {
	private, public, err := webhook.NewSigningKey()
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"type":"report.running"}`)
	sig, err := webhook.SignatureHeader(webhook.SigningKeys{private}, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	if err != nil {
		fmt.Println(err)
		return
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", sig)
	pub, err := webhook.DecodePublicKey(public)
	if err != nil {
		fmt.Println(err)
		return
	}
	jwk, _ := webhook.NewJWK(pub).PublicKey() // what a receiver decodes from the JWKS
	fmt.Println(verifyV1a([]ed25519.PublicKey{jwk}, h, body))
	fmt.Println(verifyV1a([]ed25519.PublicKey{jwk}, h, []byte(`{"type":"report.failed"}`)))
	// Output:
	// true
	// false
}
