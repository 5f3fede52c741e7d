package ids

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// lowercase base32 without padding: URL-safe, case-insensitive friendly.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

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

// HasPrefix reports whether id looks like one New(prefix) made.
func HasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	return ok && len(rest) == 26
}
