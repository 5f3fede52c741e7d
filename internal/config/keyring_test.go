package config

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestWebhookKeyEncryptionKeys(t *testing.T) {
	current := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	old := base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))

	c, err := Load(env(map[string]string{}))
	if err != nil || c.WebhookKeyring != nil {
		t.Fatalf("unset: keyring %v, %v; want none", c.WebhookKeyring, err)
	}

	c, err = Load(env(map[string]string{"WEBHOOK_KEY_ENCRYPTION_KEY": current, "WEBHOOK_KEY_ENCRYPTION_KEYS": " " + old + " ,"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.WebhookKeyring.CurrentID() == "" || c.WebhookKeyring.OldKeys() != 1 {
		t.Fatalf("keyring: id %q, %d old keys; want an id and 1", c.WebhookKeyring.CurrentID(), c.WebhookKeyring.OldKeys())
	}
	logged := c.LogValue().String()
	for _, k := range []string{current, old, current[:12], old[:12]} {
		if strings.Contains(logged, k) {
			t.Errorf("the logged config shows key material %q: %s", k, logged)
		}
	}
	if !strings.Contains(logged, c.WebhookKeyring.CurrentID()) {
		t.Errorf("the logged config does not name the key id %s: %s", c.WebhookKeyring.CurrentID(), logged)
	}

	for name, vars := range map[string]map[string]string{
		"too short":           {"WEBHOOK_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 16))},
		"old key malformed":   {"WEBHOOK_KEY_ENCRYPTION_KEY": current, "WEBHOOK_KEY_ENCRYPTION_KEYS": "nope"},
		"old without current": {"WEBHOOK_KEY_ENCRYPTION_KEYS": old},
	} {
		_, err := Load(env(vars))
		if err == nil || !strings.Contains(err.Error(), "WEBHOOK_KEY_ENCRYPTION_KEY") {
			t.Errorf("%s: Load error = %v, want one naming WEBHOOK_KEY_ENCRYPTION_KEY", name, err)
		}
	}
}
