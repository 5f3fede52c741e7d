package ids

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

// lowercase base32 without padding: URL-safe, case-insensitive friendly.
var encoding = base32.NewEncoding(alphabet).WithPadding(base32.NoPadding)

// New returns prefix + "_" + 26 characters of 128 random bits.
func New(prefix string) string {
	return prefix + "_" + Random(16)
}

// Random returns n random bytes in lowercase base32.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return encoding.EncodeToString(b)
}

// HasPrefix reports whether id has exactly the shape New(prefix) makes:
// prefix, "_", then 26 characters of [a-z2-7]. An id of any other shape
// cannot exist, so callers can answer "not found" without a lookup.
func HasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != 26 {
		return false
	}
	for i := range len(rest) {
		if strings.IndexByte(alphabet, rest[i]) < 0 {
			return false
		}
	}
	return true
}
