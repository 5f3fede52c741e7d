package webhook

import (
	"crypto/ed25519"
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

// Signature identifiers: v1 is HMAC-SHA256, v1a ed25519.
const (
	signatureVersion           = "v1"
	asymmetricSignatureVersion = "v1a"
)

// Sentinel errors of [Verify]; the returned errors wrap them.
var (
	ErrMissingHeaders          = errors.New("missing webhook headers")
	ErrInvalidTimestamp        = errors.New("invalid webhook timestamp")
	ErrTimestampOutOfTolerance = errors.New("webhook timestamp outside tolerance")
	ErrNoMatchingSignature     = errors.New("no matching webhook signature")
)

// Sign returns the signature of a message by one signing key. With an HMAC
// secret ("whsec_…") it is "v1," followed by the base64 HMAC-SHA256 of
// "{id}.{unix seconds}.{body}", keyed with the decoded secret; with an
// ed25519 key ("whsk_…") it is "v1a," followed by the base64 ed25519
// signature of the same bytes.
func Sign(key, id string, ts time.Time, body []byte) (string, error) {
	if id == "" {
		return "", errors.New("sign message: empty message id")
	}
	if SigningOf(key) == SigningEd25519 {
		priv, err := DecodePrivateKey(key)
		if err != nil {
			return "", fmt.Errorf("sign message %s: %w", id, err)
		}
		sig := ed25519.Sign(priv, signedContent(id, ts.Unix(), body))
		return asymmetricSignatureVersion + "," + base64.StdEncoding.EncodeToString(sig), nil
	}
	secret, err := DecodeSecret(key)
	if err != nil {
		return "", fmt.Errorf("sign message %s: %w", id, err)
	}
	return signatureVersion + "," + base64.StdEncoding.EncodeToString(mac(secret, id, ts.Unix(), body)), nil
}

// SignatureHeader signs the message with every key and joins the
// signatures with spaces, so a receiver holding either the old or the new
// key accepts it during a rotation, whichever scheme each one uses.
func SignatureHeader(secrets SigningKeys, id string, ts time.Time, body []byte) (string, error) {
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
// and at least one of the space-separated signatures must verify under key:
// a v1 signature under an HMAC secret ("whsec_…"), compared in constant
// time, or a v1a signature under an ed25519 public key ("whpk_…"). Errors wrap
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

	matches, err := verifier(secret, id, ts, body)
	if err != nil {
		return fmt.Errorf("verify webhook: %w", err)
	}
	for versioned := range strings.FieldsSeq(sigs) {
		if version, sig, ok := strings.Cut(versioned, ","); ok && matches(version, sig) {
			return nil
		}
	}
	return fmt.Errorf("verify webhook: %w", ErrNoMatchingSignature)
}

// verifier returns the check of one signature under key: v1 for an HMAC
// secret, v1a for an ed25519 public key; other versions never match.
func verifier(key, id string, ts int64, body []byte) (func(version, sig string) bool, error) {
	if strings.HasPrefix(key, PublicKeyPrefix) {
		pub, err := DecodePublicKey(key)
		if err != nil {
			return nil, err
		}
		content := signedContent(id, ts, body)
		return func(version, sig string) bool {
			raw, err := base64.StdEncoding.DecodeString(sig)
			return version == asymmetricSignatureVersion && err == nil && ed25519.Verify(pub, content, raw)
		}, nil
	}
	secret, err := DecodeSecret(key)
	if err != nil {
		return nil, err
	}
	want := []byte(base64.StdEncoding.EncodeToString(mac(secret, id, ts, body)))
	return func(version, sig string) bool {
		return version == signatureVersion && subtle.ConstantTimeCompare([]byte(sig), want) == 1
	}, nil
}

// signedContent is what both schemes sign: "{id}.{timestamp}.{body}".
func signedContent(id string, ts int64, body []byte) []byte {
	b := make([]byte, 0, len(id)+len(body)+22)
	b = append(b, id...)
	b = strconv.AppendInt(append(b, '.'), ts, 10)
	return append(append(b, '.'), body...)
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
