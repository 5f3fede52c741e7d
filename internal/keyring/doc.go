// Package keyring seals webhook signing keys at rest: AES-256-GCM under a
// key-encryption key from WEBHOOK_KEY_ENCRYPTION_KEY, with the owning
// client's id as additional data, so a sealed key copied to another client's
// row does not open.
//
// A sealed value is "enc1:<key id>:<base64 of nonce and ciphertext>". The key
// id (a short hash of the key-encryption key) says which key opens it, so the
// key can be rotated: the new key seals, the old ones (WEBHOOK_KEY_ENCRYPTION_KEYS)
// still open, and `reportctl keys reencrypt` re-seals every stored key under
// the new one, after which the old ones can go.
//
// The package is a leaf: it imports only the standard library.
package keyring
