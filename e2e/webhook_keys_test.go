package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/config"
	"github.com/reportd/reportd/internal/testenv"
	"github.com/reportd/reportd/internal/webhook"
)

// jwksBody is GET /v1/webhook-keys, with each key also kept as sent, for node.
type jwksBody struct {
	Keys []json.RawMessage `json:"keys"`
}

func fetchWebhookKeys(t *testing.T, env *testenv.Env, apiKey string) ([]webhook.JWK, []json.RawMessage) {
	t.Helper()
	resp := env.Do(t, apiKey, http.MethodGet, "/v1/webhook-keys", "")
	expectStatus(t, resp, http.StatusOK)
	if cc := resp.Header.Get("Cache-Control"); cc != "private, max-age=300" {
		t.Errorf("Cache-Control = %q", cc)
	}
	raw := decode[jwksBody](t, resp).Keys
	keys := make([]webhook.JWK, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &keys[i]); err != nil {
			t.Fatal(err)
		}
	}
	return keys, raw
}

// verifyWithJWK checks every v1a signature claim against a key from the
// JWKS, once with our Verify and once with Node's crypto.verify on the JWK
// exactly as the API served it.
func verifyWithJWK(t *testing.T, jwk webhook.JWK, raw json.RawMessage, d testenv.Delivery) {
	t.Helper()
	pub, err := jwk.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(webhook.EncodePublicKey(pub), d.Header, d.Body, time.Now()); err != nil {
		t.Errorf("Verify with the JWKS key %s: %v", jwk.Kid, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found on PATH: this test checks v1a with Node's crypto (Debian: apt-get install -y nodejs)")
	}
	in, err := json.Marshal(map[string]any{"ed25519_verify": []map[string]any{{
		"jwk": raw, "payload_b64": base64.StdEncoding.EncodeToString(d.Body),
		"headers": map[string]string{"webhook-id": d.ID, "webhook-timestamp": d.Timestamp, "webhook-signature": d.Signature},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "conformance.js")
	cmd.Dir = "../internal/webhook/testdata/node"
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node conformance.js: %v\n%s\n(scripts/test-deps.sh installs its packages)", err, out)
	}
	var got struct {
		Verdicts []struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"ed25519_verify"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.Verdicts) != 1 {
		t.Fatalf("node answered %q (%v)", out, err)
	}
	if !got.Verdicts[0].OK {
		t.Errorf("node crypto.verify with the JWKS key %s: %s", jwk.Kid, got.Verdicts[0].Error)
	}
}

// TestWebhookKeysEd25519Client: a client made with --signing ed25519 gets
// webhooks with one v1a signature, which verifies with the key that
// GET /v1/webhook-keys serves, in Go and in Node.
func TestWebhookKeysEd25519Client(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	receiver := testenv.NewReceiver(t)
	ctl := reportctl(t, env)
	out, stderr := ctl("client", "create", "--name", "Ed Ltd", "--webhook-url", receiver.URL, "--signing", "ed25519", "--scopes", "reports,events:write")
	var created struct {
		ClientID         string  `json:"client_id"`
		APIKey           string  `json:"api_key"`
		Signing          string  `json:"signing"`
		WebhookPublicKey string  `json:"webhook_public_key"`
		WebhookKeyID     string  `json:"webhook_key_id"`
		WebhookSecret    *string `json:"webhook_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	if created.Signing != "ed25519" || !strings.HasPrefix(created.WebhookPublicKey, "whpk_") || created.WebhookSecret != nil ||
		strings.Contains(out+stderr, "whsk_") {
		t.Fatalf("client create --signing ed25519 printed %s %s", out, stderr)
	}
	receiver.Secret = created.WebhookPublicKey
	env.StartAPI(t)
	env.StartWorker(t)

	keys, raw := fetchWebhookKeys(t, env, created.APIKey)
	if len(keys) != 1 || keys[0].Kid != created.WebhookKeyID || keys[0].Kty != "OKP" || keys[0].Crv != "Ed25519" || keys[0].Alg != "EdDSA" || keys[0].Use != "sig" {
		t.Fatalf("GET /v1/webhook-keys = %s, want the one key reportctl printed (kid %s)", raw, created.WebhookKeyID)
	}
	if pub, _ := keys[0].PublicKey(); webhook.EncodePublicKey(pub) != created.WebhookPublicKey {
		t.Fatal("the JWKS key is not the whpk_ key reportctl printed")
	}

	customer := seedOrders(t, env, created.ClientID, 1, 2).Customers[0]
	submitMany(t, env, created.APIKey, customer, 1)
	d := receiver.WaitFor(t, 30*time.Second, "a webhook", func(ds []testenv.Delivery) bool { return len(ds) == 1 })[0]
	if sigs := strings.Fields(d.Signature); len(sigs) != 1 || !strings.HasPrefix(sigs[0], "v1a,") {
		t.Fatalf("webhook-signature = %q, want one v1a signature", d.Signature)
	}
	if d.Verified != nil {
		t.Errorf("the receiver, holding the whpk_ key, rejected the webhook: %v", d.Verified)
	}
	verifyWithJWK(t, keys[0], raw[0], d)
	if logs := env.Logs.String(); strings.Contains(logs, "whsk_") || strings.Contains(logs, "enc1:") || strings.Contains(logs, created.APIKey) {
		t.Error("the logs show a private key, a sealed one or the API key")
	}
}

// TestWebhookKeysRotationFromHMACSendsBoth: during the grace period of a
// rotation from HMAC to ed25519 every webhook carries the new v1a signature
// and the old v1 one; the JWKS already serves the new key.
func TestWebhookKeysRotationFromHMACSendsBoth(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	client, receiver := env.CreateClientWithReceiver(t, "Rotating to Ed Ltd")
	writer := env.CreateClient(t, "Writer Only", "", "events:write")
	env.StartAPI(t)
	env.StartWorker(t)

	if keys, raw := fetchWebhookKeys(t, env, client.APIKey); len(keys) != 0 {
		t.Fatalf("an HMAC client's key set = %s, want none", raw)
	}
	expectStatus(t, env.Do(t, "", http.MethodGet, "/v1/webhook-keys", ""), http.StatusUnauthorized)
	expectStatus(t, env.Do(t, writer.APIKey, http.MethodGet, "/v1/webhook-keys", ""), http.StatusForbidden)

	out, _ := reportctl(t, env)("secret", "rotate", "--client", client.ID, "--signing", "ed25519", "--grace", "1h")
	var rotated map[string]any
	if err := json.Unmarshal([]byte(out), &rotated); err != nil || rotated["signing"] != "ed25519" || strings.Contains(out, "whsk_") {
		t.Fatalf("secret rotate --signing ed25519 printed %s (%v)", out, err)
	}
	keys, raw := fetchWebhookKeys(t, env, client.APIKey)
	if len(keys) != 1 || keys[0].Kid != rotated["webhook_key_id"] {
		t.Fatalf("after the rotation the key set = %s, want the new key %v", raw, rotated["webhook_key_id"])
	}

	customer := seedOrders(t, env, client.ID, 1, 2).Customers[0]
	submitMany(t, env, client.APIKey, customer, 1)
	d := receiver.WaitFor(t, 30*time.Second, "a webhook", func(ds []testenv.Delivery) bool { return len(ds) == 1 })[0]
	sigs := strings.Fields(d.Signature)
	if len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1a,") || !strings.HasPrefix(sigs[1], "v1,") {
		t.Fatalf("webhook-signature = %q during the grace period, want the new v1a then the old v1", d.Signature)
	}
	if d.Verified != nil {
		t.Errorf("the old HMAC secret no longer verifies: %v", d.Verified)
	}
	verifyWithJWK(t, keys[0], raw[0], d)
}

// TestWebhookKeysEncryptionKeyRotation follows the README's procedure for
// rotating WEBHOOK_KEY_ENCRYPTION_KEY: with the new key current and the old
// one listed for decrypting, keys sealed under the old one still sign;
// keys reencrypt moves every row to the new key, after which a worker that
// has only the new key still signs.
func TestWebhookKeysEncryptionKeyRotation(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	receiver := testenv.NewReceiver(t)
	ctl := reportctl(t, env)
	out, _ := ctl("client", "create", "--name", "Rekeyed Ltd", "--webhook-url", receiver.URL, "--signing", "ed25519", "--scopes", "reports,events:write")
	var created struct {
		ClientID         string `json:"client_id"`
		APIKey           string `json:"api_key"`
		WebhookPublicKey string `json:"webhook_public_key"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	receiver.Secret = created.WebhookPublicKey

	setKeys := func(current, old string) {
		t.Helper()
		env.Vars["WEBHOOK_KEY_ENCRYPTION_KEY"], env.Vars["WEBHOOK_KEY_ENCRYPTION_KEYS"] = current, old
		cfg, err := config.Load(env.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		env.Cfg = cfg
	}
	oldKey := env.Vars["WEBHOOK_KEY_ENCRYPTION_KEY"]
	newKey := base64.StdEncoding.EncodeToString([]byte("a second test key, 32 bytes long"))
	setKeys(newKey, oldKey)
	newID := env.Cfg.WebhookKeyring.CurrentID()
	env.StartAPI(t)
	stop := env.StartWorker(t)
	customer := seedOrders(t, env, created.ClientID, 1, 2).Customers[0]

	delivered := func(n int) {
		t.Helper()
		submitMany(t, env, created.APIKey, customer, 1)
		d := receiver.WaitFor(t, 30*time.Second, "webhook "+strconv.Itoa(n), func(ds []testenv.Delivery) bool { return len(ds) == n })[n-1]
		if d.Verified != nil {
			t.Fatalf("webhook %d does not verify: %v", n, d.Verified)
		}
	}
	delivered(1) // opened with the old key, listed in WEBHOOK_KEY_ENCRYPTION_KEYS

	out, _ = ctl("keys", "reencrypt")
	var re struct {
		Resealed int    `json:"resealed"`
		KeyID    string `json:"key_id"`
	}
	if err := json.Unmarshal([]byte(out), &re); err != nil || re.Resealed != 1 || re.KeyID != newID {
		t.Fatalf("keys reencrypt printed %s (%v), want 1 key re-sealed under %s", out, err, newID)
	}
	var stale int
	if err := env.DB(t).QueryRow(context.Background(), `SELECT count(*) FROM webhook_secrets WHERE secret NOT LIKE $1`, "enc1:"+newID+":%").Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d signing keys are not sealed under the new key (%v)", stale, err)
	}

	stop()
	setKeys(newKey, "")
	env.StartWorker(t)
	delivered(2) // the old key is gone
}
