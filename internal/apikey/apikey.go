package apikey

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"

	"github.com/reportd/reportd/internal/ids"
)

// Prefix marks reportd keys, so secret scanners and humans recognise them.
const Prefix = "rk_"

// ErrMalformed means the presented string is not shaped like a reportd key.
var ErrMalformed = errors.New("malformed api key")

// Key is a freshly minted key. Plain is shown once, to the operator.
type Key struct {
	ID    string // public part, stored in clear to find the row
	Plain string // rk_<id>_<secret>
	Hash  []byte // sha256 of Plain
}

// New mints a key: 80 bits of id and 256 bits of secret.
func New() Key {
	id := ids.Random(10)
	plain := Prefix + id + "_" + ids.Random(32)
	h := sha256.Sum256([]byte(plain))
	return Key{ID: id, Plain: plain, Hash: h[:]}
}

// Parse extracts the key id and the hash of a presented key.
func Parse(plain string) (id string, hash []byte, err error) {
	rest, ok := strings.CutPrefix(plain, Prefix)
	if !ok {
		return "", nil, ErrMalformed
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 52 {
		return "", nil, ErrMalformed
	}
	h := sha256.Sum256([]byte(plain))
	return id, h[:], nil
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
