package postgres_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/keyring"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/webhook"
)

func testKeyring(t *testing.T, current byte, old ...byte) *keyring.Keyring {
	t.Helper()
	enc := func(b byte) string {
		return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune(b)), 32)))
	}
	olds := make([]string, 0, len(old))
	for _, o := range old {
		olds = append(olds, enc(o))
	}
	k, err := keyring.Parse(enc(current), olds)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func createClient(t *testing.T, store *postgres.Store, secret string) string {
	t.Helper()
	id := ids.New("cli")
	if err := store.CreateClient(context.Background(), postgres.NewClient{
		ID: id, Name: "Keys Ltd", KeyID: ids.Random(10), KeyHash: []byte(ids.Random(16)), Scopes: []string{"reports"}, Secret: secret,
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func storedSecrets(t *testing.T, pool *pgxpool.Pool, clientID string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT secret FROM webhook_secrets WHERE client_id = $1 ORDER BY id`, clientID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func newPair(t *testing.T) (string, ed25519.PublicKey) {
	t.Helper()
	priv, pubText, err := webhook.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := webhook.DecodePublicKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// TestSigningKeysRotateAcrossSchemes: keys are sealed in their rows and come
// back in signing order (current first) on every load path, and the public
// keys of ed25519 keys, grace period included, are what the JWKS serves.
func TestSigningKeysRotateAcrossSchemes(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := postgres.NewStore(pool).WithKeyring(testKeyring(t, 'a'))
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	client := createClient(t, store, secret)
	edA, pubA := newPair(t)
	edB, pubB := newPair(t)

	check := func(step string, wantKeys []string, wantPubs []ed25519.PublicKey, wantSigning string) {
		t.Helper()
		got, err := store.SigningSecrets(ctx, client)
		if err != nil {
			t.Fatalf("%s: SigningSecrets: %v", step, err)
		}
		if strings.Join(got, " ") != strings.Join(wantKeys, " ") {
			t.Errorf("%s: signing keys are %s, want %s", step, webhook.SigningKeys(got), webhook.SigningKeys(wantKeys))
		}
		_, batch, err := store.LoadDeliveriesToSend(ctx, client, nil)
		if err != nil || strings.Join(batch, " ") != strings.Join(wantKeys, " ") {
			t.Errorf("%s: LoadDeliveriesToSend keys %s, %v", step, webhook.SigningKeys(batch), err)
		}
		pubs, err := store.WebhookPublicKeys(ctx, client)
		if err != nil {
			t.Fatalf("%s: WebhookPublicKeys: %v", step, err)
		}
		if len(pubs) != len(wantPubs) {
			t.Fatalf("%s: %d public keys, want %d", step, len(pubs), len(wantPubs))
		}
		for i := range pubs {
			if !pubs[i].Equal(wantPubs[i]) {
				t.Errorf("%s: public key %d is not the expected one", step, i)
			}
		}
		if signing, err := store.CurrentSigning(ctx, client); err != nil || signing != wantSigning {
			t.Errorf("%s: CurrentSigning = %q, %v; want %q", step, signing, err, wantSigning)
		}
		for _, row := range storedSecrets(t, pool, client) {
			if !keyring.IsSealed(row) || strings.Contains(row, "whsec_") || strings.Contains(row, "whsk_") {
				t.Errorf("%s: a row holds %.12q…, want a sealed value", step, row)
			}
		}
	}
	check("created with HMAC", []string{secret}, nil, webhook.SigningHMAC)
	if err := store.RotateSecret(ctx, client, edA, time.Hour); err != nil {
		t.Fatal(err)
	}
	check("HMAC to ed25519", []string{edA, secret}, []ed25519.PublicKey{pubA}, webhook.SigningEd25519)
	if err := store.RotateSecret(ctx, client, edB, time.Hour); err != nil {
		t.Fatal(err)
	}
	check("ed25519 to ed25519", []string{edB, edA, secret}, []ed25519.PublicKey{pubB, pubA}, webhook.SigningEd25519)
	if err := store.RotateSecret(ctx, client, secret, 0); err != nil {
		t.Fatal(err)
	}
	check("back to HMAC, no grace", []string{secret}, nil, webhook.SigningHMAC)

	// The client id is the additional data: a sealed key copied to another
	// client does not open there.
	other := createClient(t, store, secret)
	if _, err := pool.Exec(ctx, `UPDATE webhook_secrets SET secret = (SELECT secret FROM webhook_secrets WHERE client_id = $1 ORDER BY id DESC LIMIT 1) WHERE client_id = $2`, client, other); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SigningSecrets(ctx, other); !errors.Is(err, keyring.ErrCannotOpen) {
		t.Errorf("another client's sealed key: %v, want ErrCannotOpen", err)
	}
	if _, err := store.CurrentSigning(ctx, "cli_missing"); err == nil {
		t.Error("CurrentSigning of a missing client succeeded")
	}
}

func TestSigningKeysWithoutKeyring(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	plain := postgres.NewStore(pool)
	ed, _ := newPair(t)
	err := plain.CreateClient(ctx, postgres.NewClient{ID: ids.New("cli"), Name: "x", KeyID: ids.Random(10), KeyHash: []byte(ids.Random(16)), Scopes: []string{"reports"}, Secret: ed})
	if !errors.Is(err, keyring.ErrNoKey) {
		t.Fatalf("an ed25519 client without a keyring: %v, want ErrNoKey", err)
	}
	secret, _ := webhook.NewSecret()
	client := createClient(t, plain, secret)
	if err := plain.RotateSecret(ctx, client, ed, time.Hour); !errors.Is(err, keyring.ErrNoKey) {
		t.Fatalf("rotating to ed25519 without a keyring: %v, want ErrNoKey", err)
	}
	if rows := storedSecrets(t, pool, client); len(rows) != 1 || rows[0] != secret {
		t.Fatalf("without a keyring the HMAC secret is stored as it was: %d rows", len(rows))
	}
	// A store that can no longer open a sealed row says why, naming no key.
	sealing := postgres.NewStore(pool).WithKeyring(testKeyring(t, 'a'))
	if err := sealing.RotateSecret(ctx, client, ed, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.SigningSecrets(ctx, client); !errors.Is(err, keyring.ErrNoKey) {
		t.Errorf("opening without a keyring: %v, want ErrNoKey", err)
	}
}

// TestReencryptSigningKeys: plaintext rows from before a key was set are
// sealed, a second run finds nothing, and after a key rotation every row
// moves to the new key, so the old one can be dropped.
func TestReencryptSigningKeys(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	clients, secrets := make([]string, 0, 3), make([]string, 0, 3)
	for range 3 {
		s, _ := webhook.NewSecret()
		clients, secrets = append(clients, createClient(t, postgres.NewStore(pool), s)), append(secrets, s)
	}
	if _, err := postgres.NewStore(pool).ReencryptSigningKeys(ctx); !errors.Is(err, keyring.ErrNoKey) {
		t.Fatalf("re-encrypting without a key: %v, want ErrNoKey", err)
	}
	a := postgres.NewStore(pool).WithKeyring(testKeyring(t, 'a'))
	ed, _ := newPair(t)
	if err := a.RotateSecret(ctx, clients[0], ed, time.Hour); err != nil { // already sealed under a
		t.Fatal(err)
	}
	if n, err := a.ReencryptSigningKeys(ctx); err != nil || n != 3 {
		t.Fatalf("first run sealed %d, %v; want the 3 plaintext secrets", n, err)
	}
	if n, err := a.ReencryptSigningKeys(ctx); err != nil || n != 0 {
		t.Fatalf("second run sealed %d, %v; want 0", n, err)
	}
	b := postgres.NewStore(pool).WithKeyring(testKeyring(t, 'b', 'a'))
	if n, err := b.ReencryptSigningKeys(ctx); err != nil || n != 4 {
		t.Fatalf("after the key rotation sealed %d, %v; want all 4 rows", n, err)
	}
	onlyB := postgres.NewStore(pool).WithKeyring(testKeyring(t, 'b'))
	for i, c := range clients {
		got, err := onlyB.SigningSecrets(ctx, c)
		if err != nil {
			t.Fatalf("client %d with only the new key: %v", i, err)
		}
		if got[len(got)-1] != secrets[i] {
			t.Errorf("client %d: the re-sealed secret changed", i)
		}
	}
}
