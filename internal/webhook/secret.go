package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretPrefix starts every webhook secret, as in the Standard Webhooks spec.
const SecretPrefix = "whsec_"

// Key sizes accepted by [DecodeSecret]. New secrets use secretBytes.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
	secretBytes    = 32
)

// ErrInvalidSecret is wrapped by every error about a malformed secret.
// Such errors never contain the secret itself.
var ErrInvalidSecret = errors.New("invalid webhook secret")

// NewSecret returns a fresh secret: "whsec_" followed by the standard base64
// encoding of 32 random bytes.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// DecodeSecret returns the HMAC key of a "whsec_" secret. The key must be
// 24 to 64 bytes long; base64 padding is optional.
func DecodeSecret(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrInvalidSecret, SecretPrefix)
	}
	codec := base64.StdEncoding
	if !strings.HasSuffix(enc, "=") {
		codec = base64.RawStdEncoding
	}
	key, err := codec.DecodeString(enc)
	if err != nil {
		// The base64 error names only an offset, never the input.
		return nil, fmt.Errorf("%w: bad base64: %w", ErrInvalidSecret, err)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d to %d", ErrInvalidSecret, len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
}
