package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/reportd/reportd/internal/keyring"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/testenv"
	"github.com/reportd/reportd/internal/webhook"
)

type ctlResult struct {
	out    map[string]any
	stdout string
	stderr string
	err    error
}

func ctl(t *testing.T, env map[string]string, args ...string) ctlResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	r := ctlResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
	if err == nil {
		if jerr := json.Unmarshal(stdout.Bytes(), &r.out); jerr != nil {
			t.Fatalf("reportctl %v printed %q: %v", args, stdout.String(), jerr)
		}
	}
	return r
}

// client create and secret rotate with --signing ed25519 print the public
// key and never the private one; without WEBHOOK_KEY_ENCRYPTION_KEY they
// refuse and say how to set it; keys reencrypt seals what was stored before.
func TestSigningEd25519Commands(t *testing.T) {
	url := pgtest.NewURL(t)
	noKey := map[string]string{"DATABASE_URL": url}
	withKey := map[string]string{"DATABASE_URL": url, "WEBHOOK_KEY_ENCRYPTION_KEY": testenv.DevKeyEncryptionKey}

	r := ctl(t, noKey, "client", "create", "--name", "ed", "--signing", "ed25519")
	if r.err == nil || !strings.Contains(r.err.Error(), "WEBHOOK_KEY_ENCRYPTION_KEY") || !strings.Contains(r.err.Error(), "openssl rand -base64 32") {
		t.Fatalf("--signing ed25519 without a key: %v, want a message saying how to set WEBHOOK_KEY_ENCRYPTION_KEY", r.err)
	}
	if r := ctl(t, withKey, "client", "create", "--name", "x", "--signing", "rsa"); r.err == nil {
		t.Fatal("--signing rsa was accepted")
	}

	// An HMAC client made before the key was set: stored as it was, with a note.
	r = ctl(t, noKey, "client", "create", "--name", "old")
	if r.err != nil || !strings.Contains(r.stderr, "stored unencrypted") {
		t.Fatalf("hmac client without a key: %v, stderr %q", r.err, r.stderr)
	}
	oldClient, oldSecret := r.out["client_id"].(string), r.out["webhook_secret"].(string)

	r = ctl(t, withKey, "client", "create", "--name", "ed", "--signing", "ed25519")
	if r.err != nil {
		t.Fatal(r.err)
	}
	client := r.out["client_id"].(string)
	pubText, _ := r.out["webhook_public_key"].(string)
	pub, err := webhook.DecodePublicKey(pubText)
	if err != nil || r.out["signing"] != "ed25519" || r.out["webhook_key_id"] != webhook.KeyID(pub) {
		t.Fatalf("client create --signing ed25519 printed %s (%v)", r.stdout, err)
	}
	if _, ok := r.out["webhook_secret"]; ok || strings.Contains(r.stdout+r.stderr, "whsk_") {
		t.Fatalf("client create printed a private key or secret: %s %s", r.stdout, r.stderr)
	}

	// Rotating keeps the client's scheme unless told otherwise.
	r = ctl(t, withKey, "secret", "rotate", "--client", client)
	if r.err != nil || r.out["signing"] != "ed25519" || strings.Contains(r.stdout, "whsk_") || r.out["webhook_public_key"] == pubText {
		t.Fatalf("secret rotate (ed25519 client): %v, %s", r.err, r.stdout)
	}
	r = ctl(t, withKey, "secret", "rotate", "--client", oldClient, "--signing", "ed25519")
	if r.err != nil || r.out["signing"] != "ed25519" {
		t.Fatalf("secret rotate --signing ed25519: %v, %s", r.err, r.stdout)
	}
	if r := ctl(t, noKey, "secret", "rotate", "--client", oldClient, "--signing", "ed25519"); r.err == nil || !strings.Contains(r.err.Error(), "WEBHOOK_KEY_ENCRYPTION_KEY") {
		t.Fatalf("secret rotate --signing ed25519 without a key: %v", r.err)
	}

	// The plaintext HMAC secret is sealed by keys reencrypt, and still signs.
	r = ctl(t, withKey, "keys", "reencrypt")
	if r.err != nil || r.out["resealed"] != 1.0 {
		t.Fatalf("keys reencrypt: %v, %s; want 1 resealed", r.err, r.stdout)
	}
	pool, err := postgres.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var plain int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_secrets WHERE secret NOT LIKE 'enc1:%'`).Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("%d rows are still plaintext (%v)", plain, err)
	}
	keys, err := postgres.NewStore(pool).WithKeyring(mustKeyring(t)).SigningSecrets(context.Background(), oldClient)
	if err != nil || len(keys) != 2 || keys[1] != oldSecret || webhook.SigningOf(keys[0]) != webhook.SigningEd25519 {
		t.Fatalf("after reencrypt the old client's keys are %s, %v; want its new ed25519 key and the old secret", webhook.SigningKeys(keys), err)
	}
}

func mustKeyring(t *testing.T) *keyring.Keyring {
	t.Helper()
	k, err := keyring.Parse(testenv.DevKeyEncryptionKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
