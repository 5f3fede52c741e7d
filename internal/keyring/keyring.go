package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key-encryption key: AES-256.
const KeySize = 32

// sealedPrefix starts every sealed value; the 1 is the format's version.
const sealedPrefix = "enc1:"

// ErrNoKey is returned when something must be sealed and no
// key-encryption key is configured. Its text says how to configure one.
var ErrNoKey = errors.New("WEBHOOK_KEY_ENCRYPTION_KEY is not set: signing keys are stored encrypted with it; " +
	"set it to 32 random bytes in base64 (openssl rand -base64 32) for reportctl, the api and the worker alike")

// ErrCannotOpen is wrapped when a sealed value does not open: no configured
// key has its key id, or it was altered or belongs to another client.
var ErrCannotOpen = errors.New("cannot open sealed signing key")

// Keyring holds the current key-encryption key, which seals, and older
// ones, which only open. A nil *Keyring has no key: it seals nothing and
// opens only plaintext. It is safe for concurrent use.
type Keyring struct {
	current *kek
	byID    map[string]*kek
}

type kek struct {
	id   string
	aead cipher.AEAD
}

// Parse builds a keyring from base64 keys: current seals and opens, each of
// old only opens. With neither it returns nil, a keyring that has no key.
func Parse(current string, old []string) (*Keyring, error) {
	if current == "" {
		if len(old) > 0 {
			return nil, errors.New("old keys are given but no current key: set WEBHOOK_KEY_ENCRYPTION_KEY too")
		}
		return nil, nil //nolint:nilnil // a nil *Keyring is a valid keyring: the one with no key
	}
	k := &Keyring{byID: map[string]*kek{}}
	for i, text := range append([]string{current}, old...) {
		e, err := newKEK(text)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("current key: %w", err)
			}
			return nil, fmt.Errorf("old key %d: %w", i, err)
		}
		if _, dup := k.byID[e.id]; dup {
			continue // the current key listed again among the old ones
		}
		k.byID[e.id] = e
		if i == 0 {
			k.current = e
		}
	}
	return k, nil
}

func newKEK(text string) (*kek, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		// The base64 error names only an offset, never the input.
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(raw) != KeySize {
		return nil, fmt.Errorf("is %d bytes, want %d (openssl rand -base64 32)", len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("make cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("make GCM: %w", err)
	}
	// The id is public (it is in every sealed value), so it is a hash of
	// the key under a label of its own, never the key itself.
	sum := sha256.Sum256(append([]byte("reportd key-encryption key id\x00"), raw...))
	return &kek{id: hex.EncodeToString(sum[:4]), aead: aead}, nil
}

// CurrentID is the id of the key that seals, "" for a keyring with no key.
func (k *Keyring) CurrentID() string {
	if k == nil {
		return ""
	}
	return k.current.id
}

// OldKeys is how many keys only open.
func (k *Keyring) OldKeys() int {
	if k == nil {
		return 0
	}
	return len(k.byID) - 1
}

// IsSealed reports whether a stored value is sealed rather than plaintext.
func IsSealed(stored string) bool { return strings.HasPrefix(stored, sealedPrefix) }

// Seal encrypts plaintext under the current key, bound to aad (the owning
// client's id).
func (k *Keyring) Seal(plaintext, aad string) (string, error) {
	if k == nil {
		return "", ErrNoKey
	}
	aead := k.current.aead
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal signing key: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return sealedPrefix + k.current.id + ":" + base64.StdEncoding.EncodeToString(out), nil
}

// Open returns what a stored value holds: the plaintext of a sealed value,
// or the value itself when it was stored before sealing (no "enc1:" prefix).
// Errors never contain the value.
func (k *Keyring) Open(stored, aad string) (string, error) {
	rest, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok {
		return "", fmt.Errorf("%w: malformed", ErrCannotOpen)
	}
	if k == nil {
		return "", fmt.Errorf("%w: it is sealed with key %s: %w", ErrCannotOpen, id, ErrNoKey)
	}
	e := k.byID[id]
	if e == nil {
		return "", fmt.Errorf("%w: it is sealed with key %s, which is neither WEBHOOK_KEY_ENCRYPTION_KEY (%s) nor in WEBHOOK_KEY_ENCRYPTION_KEYS",
			ErrCannotOpen, id, k.current.id)
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw) < e.aead.NonceSize() {
		return "", fmt.Errorf("%w: malformed", ErrCannotOpen)
	}
	nonce, ct := raw[:e.aead.NonceSize()], raw[e.aead.NonceSize():]
	plain, err := e.aead.Open(nil, nonce, ct, []byte(aad))
	if err != nil {
		return "", fmt.Errorf("%w: altered, or not this client's (key %s)", ErrCannotOpen, id)
	}
	return string(plain), nil
}

// NeedsReseal reports whether a stored value should be sealed again under
// the current key: it is plaintext, or sealed under an older key.
func (k *Keyring) NeedsReseal(stored string) bool {
	if k == nil {
		return false
	}
	return !strings.HasPrefix(stored, sealedPrefix+k.current.id+":")
}

// String names the keyring by its key ids only, so printing a config that
// holds one shows no key material.
func (k *Keyring) String() string {
	if k == nil {
		return "keyring(no key)"
	}
	return fmt.Sprintf("keyring(key %s, %d old)", k.current.id, k.OldKeys())
}

// GoString is String, for %#v.
func (k *Keyring) GoString() string { return k.String() }
