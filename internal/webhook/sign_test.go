package webhook

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The example from the Standard Webhooks spec and its reference libraries.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignSpecVector(t *testing.T) {
	got, err := Sign(specSecret, specID, time.Unix(specTimestamp, 0), []byte(specBody))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if got != specSignature {
		t.Errorf("Sign = %q, want %q", got, specSignature)
	}
}

func TestSignErrors(t *testing.T) {
	for name, tc := range map[string]struct{ secret, id string }{
		"no prefix":     {secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: specID},
		"bad base64":    {secret: "whsec_!!!notbase64!!!", id: specID},
		"key too short": {secret: "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)), id: specID},
		"key too long":  {secret: "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), id: specID},
		"empty id":      {secret: specSecret, id: ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Sign(tc.secret, tc.id, time.Unix(specTimestamp, 0), []byte(specBody))
			if err == nil {
				t.Fatal("Sign succeeded, want an error")
			}
			if secretPart := strings.TrimPrefix(tc.secret, "whsec_"); secretPart != "" && strings.Contains(err.Error(), secretPart) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	if !strings.HasPrefix(s, "whsec_") {
		t.Errorf("NewSecret = %q, want the whsec_ prefix", s)
	}
	key, err := DecodeSecret(s)
	if err != nil {
		t.Fatalf("DecodeSecret(NewSecret()): %v", err)
	}
	if len(key) != 32 {
		t.Errorf("key length = %d, want 32", len(key))
	}
	s2, err := NewSecret()
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	if s == s2 {
		t.Error("two NewSecret calls returned the same secret")
	}

	for _, n := range []int{24, 33, 64} {
		key := make([]byte, n)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			got, err := DecodeSecret("whsec_" + enc.EncodeToString(key))
			if err != nil || len(got) != n {
				t.Errorf("DecodeSecret(%d bytes) = %d bytes, %v; want %d bytes", n, len(got), err, n)
			}
		}
	}
	if _, err := DecodeSecret("whsec_"); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("DecodeSecret(empty key) error = %v, want ErrInvalidSecret", err)
	}
}

func TestSignatureHeaderRotation(t *testing.T) {
	other, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(specTimestamp, 0)
	got, err := SignatureHeader([]string{specSecret, other}, specID, ts, []byte(specBody))
	if err != nil {
		t.Fatalf("SignatureHeader: %v", err)
	}
	sigs := strings.Split(got, " ")
	if len(sigs) != 2 || sigs[0] != specSignature {
		t.Fatalf("SignatureHeader = %q, want two signatures, the first %q", got, specSignature)
	}
	for _, secret := range []string{specSecret, other} {
		if err := Verify(secret, headers(specID, "1614265330", got), []byte(specBody), ts); err != nil {
			t.Errorf("Verify with one of the rotated secrets: %v", err)
		}
	}
	if _, err := SignatureHeader(nil, specID, ts, []byte(specBody)); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("SignatureHeader(no secrets) error = %v, want ErrInvalidSecret", err)
	}
	if _, err := SignatureHeader([]string{specSecret, "bogus"}, specID, ts, []byte(specBody)); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("SignatureHeader(one bad secret) error = %v, want ErrInvalidSecret", err)
	}
}

func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set("webhook-id", id)
	}
	if ts != "" {
		h.Set("webhook-timestamp", ts)
	}
	if sig != "" {
		h.Set("webhook-signature", sig)
	}
	return h
}

func TestVerify(t *testing.T) {
	ts := time.Unix(specTimestamp, 0)
	otherSig, err := Sign("whsec_"+base64.StdEncoding.EncodeToString(make([]byte, 32)), specID, ts, []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	const tsText = "1614265330"
	for name, tc := range map[string]struct {
		secret string
		h      http.Header
		body   string
		now    time.Time
		want   error // nil, a sentinel, or errAny
	}{
		"spec vector":               {h: headers(specID, tsText, specSignature)},
		"lower edge of tolerance":   {h: headers(specID, tsText, specSignature), now: ts.Add(5 * time.Minute)},
		"upper edge of tolerance":   {h: headers(specID, tsText, specSignature), now: ts.Add(-5 * time.Minute)},
		"one match among several":   {h: headers(specID, tsText, otherSig+" v2,abc "+specSignature)},
		"extra spaces between sigs": {h: headers(specID, tsText, "  "+otherSig+"   "+specSignature+" ")},
		"missing id":                {h: headers("", tsText, specSignature), want: ErrMissingHeaders},
		"missing timestamp":         {h: headers(specID, "", specSignature), want: ErrMissingHeaders},
		"missing signature":         {h: headers(specID, tsText, ""), want: ErrMissingHeaders},
		"no headers":                {h: http.Header{}, want: ErrMissingHeaders},
		"timestamp not a number":    {h: headers(specID, "16142653x0", specSignature), want: ErrInvalidTimestamp},
		"timestamp in milliseconds": {h: headers(specID, "1614265330000", specSignature), want: ErrTimestampOutOfTolerance},
		"negative timestamp":        {h: headers(specID, "-1", specSignature), want: ErrInvalidTimestamp},
		"timestamp overflows int64": {h: headers(specID, "99999999999999999999", specSignature), want: ErrInvalidTimestamp},
		"stale: 5 min 1 s old":      {h: headers(specID, tsText, specSignature), now: ts.Add(5*time.Minute + time.Second), want: ErrTimestampOutOfTolerance},
		"future: 5 min 1 s ahead":   {h: headers(specID, tsText, specSignature), now: ts.Add(-5*time.Minute - time.Second), want: ErrTimestampOutOfTolerance},
		"truncated signature":       {h: headers(specID, tsText, specSignature[:len(specSignature)-2]), want: ErrNoMatchingSignature},
		"signature without version": {h: headers(specID, tsText, strings.TrimPrefix(specSignature, "v1,")), want: ErrNoMatchingSignature},
		"wrong version":             {h: headers(specID, tsText, "v2,"+strings.TrimPrefix(specSignature, "v1,")), want: ErrNoMatchingSignature},
		"several, none matching":    {h: headers(specID, tsText, otherSig+" "+otherSig+" v1,"), want: ErrNoMatchingSignature},
		"wrong secret":              {secret: "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)), h: headers(specID, tsText, specSignature), want: ErrNoMatchingSignature},
		"tampered body":             {h: headers(specID, tsText, specSignature), body: `{"test": 2432232315}`, want: ErrNoMatchingSignature},
		"other id":                  {h: headers("msg_other", tsText, specSignature), want: ErrNoMatchingSignature},
		"malformed secret":          {secret: "whsec_??", h: headers(specID, tsText, specSignature), want: ErrInvalidSecret},
	} {
		t.Run(name, func(t *testing.T) {
			secret := tc.secret
			if secret == "" {
				secret = specSecret
			}
			body := tc.body
			if body == "" {
				body = specBody
			}
			now := tc.now
			if now.IsZero() {
				now = ts
			}
			err := Verify(secret, tc.h, []byte(body), now)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Verify error = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}
