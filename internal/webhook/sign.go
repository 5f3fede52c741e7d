package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of Standard Webhooks v1.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a message's timestamp may be from the receiver's clock,
// either way, before [Verify] rejects it as a possible replay.
const Tolerance = 5 * time.Minute

const signatureVersion = "v1"

// Sentinel errors of [Verify]; the returned errors wrap them.
var (
	ErrMissingHeaders          = errors.New("missing webhook headers")
	ErrInvalidTimestamp        = errors.New("invalid webhook timestamp")
	ErrTimestampOutOfTolerance = errors.New("webhook timestamp outside tolerance")
	ErrNoMatchingSignature     = errors.New("no matching webhook signature")
)

// Sign returns the v1 signature of a message: "v1," followed by the base64
// HMAC-SHA256 of "{id}.{unix seconds}.{body}", keyed with the decoded secret.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return "", fmt.Errorf("sign message %s: %w", id, err)
	}
	if id == "" {
		return "", errors.New("sign message: empty message id")
	}
	return signatureVersion + "," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)), nil
}

// SignatureHeader signs the message with every secret and joins the
// signatures with spaces, so a receiver holding either the old or the new
// secret accepts it during a rotation.
func SignatureHeader(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("sign message %s: %w: no secret", id, ErrInvalidSecret)
	}
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		sig, err := Sign(s, id, ts, body)
		if err != nil {
			return "", fmt.Errorf("secret %d: %w", i, err)
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Verify checks a received message the way a Standard Webhooks receiver does:
// the three headers must be present, the timestamp within [Tolerance] of now,
// and at least one of the space-separated v1 signatures must match the
// secret. Signatures are compared in constant time. Errors wrap
// [ErrMissingHeaders], [ErrInvalidTimestamp], [ErrTimestampOutOfTolerance],
// [ErrNoMatchingSignature] or [ErrInvalidSecret].
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	var missing []string
	for _, f := range []struct{ name, value string }{{HeaderID, id}, {HeaderTimestamp, tsText}, {HeaderSignature, sigs}} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("verify webhook: %w: %s", ErrMissingHeaders, strings.Join(missing, ", "))
	}

	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || ts < 0 {
		return fmt.Errorf("verify webhook: %w: %.32q", ErrInvalidTimestamp, tsText)
	}
	// Both operands are non-negative, so the difference cannot overflow.
	if skew := now.Unix() - ts; skew > int64(Tolerance/time.Second) || skew < -int64(Tolerance/time.Second) {
		return fmt.Errorf("verify webhook: %w: %ds from now", ErrTimestampOutOfTolerance, -skew)
	}

	key, err := DecodeSecret(secret)
	if err != nil {
		return fmt.Errorf("verify webhook: %w", err)
	}
	want := []byte(base64.StdEncoding.EncodeToString(mac(key, id, ts, body)))
	for versioned := range strings.FieldsSeq(sigs) {
		version, sig, ok := strings.Cut(versioned, ",")
		if !ok || version != signatureVersion {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(sig), want) == 1 {
			return nil
		}
	}
	return fmt.Errorf("verify webhook: %w", ErrNoMatchingSignature)
}

func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	var buf [32]byte
	m.Write([]byte(id))
	m.Write(strconv.AppendInt(append(buf[:0], '.'), ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
