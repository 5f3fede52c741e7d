package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefixes of the Standard Webhooks asymmetric (ed25519, "v1a") keys.
const (
	// PrivateKeyPrefix starts a signing key: base64 of the 64-byte ed25519
	// private key (seed and public key), or of the 32-byte seed. It never
	// leaves reportd.
	PrivateKeyPrefix = "whsk_"
	// PublicKeyPrefix starts a verifying key: base64 of the 32-byte public key.
	PublicKeyPrefix = "whpk_"
)

// Signing schemes, as stored and as named by reportctl's --signing.
const (
	SigningHMAC    = "hmac"    // v1: HMAC-SHA256 with a "whsec_" secret
	SigningEd25519 = "ed25519" // v1a: ed25519 with a "whsk_" key
)

// SigningKeys sign one message, one signature each: the current key first,
// then any still in their rotation grace period. Each is an HMAC secret
// ("whsec_…", a v1 signature) or an ed25519 private key ("whsk_…", v1a).
// Printing or logging the value shows only how many keys of which kind.
type SigningKeys []string

// String names the kinds of the keys, never the keys.
func (k SigningKeys) String() string {
	kinds := make([]string, len(k))
	for i, s := range k {
		kinds[i] = SigningOf(s)
	}
	return fmt.Sprintf("SigningKeys[%s]", strings.Join(kinds, " "))
}

// GoString keeps %#v from printing the keys.
func (k SigningKeys) GoString() string { return k.String() }

// SigningOf names the scheme of a signing key by its prefix: SigningHMAC,
// SigningEd25519, or "unknown".
func SigningOf(key string) string {
	switch {
	case strings.HasPrefix(key, SecretPrefix):
		return SigningHMAC
	case strings.HasPrefix(key, PrivateKeyPrefix):
		return SigningEd25519
	}
	return "unknown"
}

// NewSigningKey returns a fresh ed25519 signing key ("whsk_…") and its
// public key ("whpk_…").
func NewSigningKey() (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate ed25519 key: %w", err)
	}
	return PrivateKeyPrefix + base64.StdEncoding.EncodeToString(priv), EncodePublicKey(pub), nil
}

// EncodePublicKey returns "whpk_" followed by the base64 public key.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// DecodePrivateKey returns the ed25519 private key of a "whsk_" key. A
// 64-byte key must hold the public key its seed derives.
func DecodePrivateKey(s string) (ed25519.PrivateKey, error) {
	raw, err := decodePrefixed(s, PrivateKeyPrefix)
	if err != nil {
		return nil, err
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !priv.Equal(ed25519.PrivateKey(raw)) {
			return nil, fmt.Errorf("%w: the public half does not match the seed", ErrInvalidSecret)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%w: ed25519 key is %d bytes, want %d or %d", ErrInvalidSecret, len(raw), ed25519.SeedSize, ed25519.PrivateKeySize)
}

// DecodePublicKey returns the ed25519 public key of a "whpk_" key.
func DecodePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := decodePrefixed(s, PublicKeyPrefix)
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: ed25519 public key is %d bytes, want %d", ErrInvalidSecret, len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// PublicKeyOf returns the public key of a signing key: the ed25519 public
// key of a "whsk_" key, nil for an HMAC secret, which has none.
func PublicKeyOf(key string) (ed25519.PublicKey, error) {
	switch SigningOf(key) {
	case SigningHMAC:
		_, err := DecodeSecret(key)
		return nil, err
	case SigningEd25519:
		priv, err := DecodePrivateKey(key)
		if err != nil {
			return nil, err
		}
		pub, _ := priv.Public().(ed25519.PublicKey)
		return pub, nil
	}
	return nil, fmt.Errorf("%w: want a %q or %q prefix", ErrInvalidSecret, SecretPrefix, PrivateKeyPrefix)
}

func decodePrefixed(s, prefix string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrInvalidSecret, prefix)
	}
	codec := base64.StdEncoding
	if !strings.HasSuffix(enc, "=") {
		codec = base64.RawStdEncoding
	}
	raw, err := codec.DecodeString(enc)
	if err != nil {
		// The base64 error names only an offset, never the input.
		return nil, fmt.Errorf("%w: bad base64: %w", ErrInvalidSecret, err)
	}
	return raw, nil
}

// JWK is an ed25519 public key as a JSON Web Key (RFC 8037).
type JWK struct {
	Kty string `json:"kty"` // "OKP"
	Crv string `json:"crv"` // "Ed25519"
	X   string `json:"x"`   // the public key, base64url without padding
	Kid string `json:"kid"` // the RFC 7638 thumbprint
	Use string `json:"use"` // "sig"
	Alg string `json:"alg"` // "EdDSA"
}

// JWKS is a JSON Web Key Set (RFC 7517 §5).
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// NewJWK describes an ed25519 public key as a JWK.
func NewJWK(pub ed25519.PublicKey) JWK {
	x := base64.RawURLEncoding.EncodeToString(pub)
	return JWK{Kty: "OKP", Crv: "Ed25519", X: x, Kid: thumbprint(x), Use: "sig", Alg: "EdDSA"}
}

// KeyID is the kid of a public key in the JWKS: its RFC 7638 thumbprint.
func KeyID(pub ed25519.PublicKey) string { return NewJWK(pub).Kid }

// thumbprint is the RFC 7638 (§3.2, RFC 8037 §2) SHA-256 thumbprint of an
// OKP key: the required members in lexicographic order, no whitespace.
func thumbprint(x string) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// PublicKey returns the ed25519 key a JWK holds.
func (j JWK) PublicKey() (ed25519.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" {
		return nil, fmt.Errorf("jwk %s: kty %q crv %q, want OKP Ed25519", j.Kid, j.Kty, j.Crv)
	}
	raw, err := base64.RawURLEncoding.DecodeString(j.X)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("jwk " + j.Kid + ": x is not a base64url 32-byte key")
	}
	return ed25519.PublicKey(raw), nil
}

// NewJWKS describes public keys as a key set, in the order given.
func NewJWKS(pubs []ed25519.PublicKey) JWKS {
	set := JWKS{Keys: make([]JWK, 0, len(pubs))}
	for _, p := range pubs {
		set.Keys = append(set.Keys, NewJWK(p))
	}
	return set
}

// CheckVerifyingKey checks a key a receiver verifies with, as [Verify]
// takes it: an HMAC secret ("whsec_…") or an ed25519 public key ("whpk_…").
func CheckVerifyingKey(key string) error {
	if strings.HasPrefix(key, PublicKeyPrefix) {
		_, err := DecodePublicKey(key)
		return err
	}
	_, err := DecodeSecret(key)
	return err
}
