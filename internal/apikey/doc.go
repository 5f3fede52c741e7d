// Package apikey mints API keys and checks them. Only a key's SHA-256 hash is
// ever stored; the key id inside the key finds the row, and the hash is
// compared in constant time.
package apikey
