package keyring

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func key(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune(b)), KeySize)))
}

func TestSealOpen(t *testing.T) {
	k, err := Parse(key('a'), nil)
	if err != nil {
		t.Fatal(err)
	}
	const plain = "whsk_c2VjcmV0IHNpZ25pbmcga2V5IGJ5dGVzIGZvciB0ZXN0cw=="
	sealed, err := k.Seal(plain, "cli_1")
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if !IsSealed(sealed) || !strings.HasPrefix(sealed, "enc1:"+k.CurrentID()+":") || strings.Contains(sealed, "c2VjcmV0") {
		t.Fatalf("Seal = %q, want enc1:<key id>:<ciphertext> without the plaintext", sealed)
	}
	again, _ := k.Seal(plain, "cli_1")
	if again == sealed {
		t.Error("two seals of the same key are equal: the nonce is not fresh")
	}
	if got, err := k.Open(sealed, "cli_1"); err != nil || got != plain {
		t.Errorf("Open = %q, %v; want the plaintext", got, err)
	}
	// The client id is additional data: a row copied to another client does not open.
	if _, err := k.Open(sealed, "cli_2"); !errors.Is(err, ErrCannotOpen) {
		t.Errorf("Open with another client id = %v, want ErrCannotOpen", err)
	}
	tampered := sealed[:len(sealed)-4] + "AAA="
	if _, err := k.Open(tampered, "cli_1"); !errors.Is(err, ErrCannotOpen) {
		t.Errorf("Open(tampered) = %v, want ErrCannotOpen", err)
	}
	for _, bad := range []string{"enc1:", "enc1:nokeyid", "enc1:" + k.CurrentID() + ":!!", "enc1:" + k.CurrentID() + ":AAAA"} {
		if _, err := k.Open(bad, "cli_1"); !errors.Is(err, ErrCannotOpen) {
			t.Errorf("Open(%q) = %v, want ErrCannotOpen", bad, err)
		}
	}
	// Values stored before sealing pass through.
	if got, err := k.Open("whsec_legacy", "cli_1"); err != nil || got != "whsec_legacy" {
		t.Errorf("Open(plaintext) = %q, %v", got, err)
	}
}

func TestRotation(t *testing.T) {
	old, err := Parse(key('a'), nil)
	if err != nil {
		t.Fatal(err)
	}
	sealedOld, _ := old.Seal("whsec_x", "cli_1")

	rotated, err := Parse(key('b'), []string{key('a')})
	if err != nil {
		t.Fatal(err)
	}
	if rotated.CurrentID() == old.CurrentID() || rotated.OldKeys() != 1 {
		t.Fatalf("rotated keyring: current %s (old %s), %d old keys", rotated.CurrentID(), old.CurrentID(), rotated.OldKeys())
	}
	if got, err := rotated.Open(sealedOld, "cli_1"); err != nil || got != "whsec_x" {
		t.Errorf("the rotated keyring opens what the old key sealed: %q, %v", got, err)
	}
	if !rotated.NeedsReseal(sealedOld) || !rotated.NeedsReseal("whsec_plain") {
		t.Error("NeedsReseal is false for an old seal or plaintext")
	}
	resealed, _ := rotated.Seal("whsec_x", "cli_1")
	if rotated.NeedsReseal(resealed) {
		t.Error("NeedsReseal is true for a value sealed under the current key")
	}

	// Once the old key is dropped, its seals no longer open, and the error says which key is missing.
	only, _ := Parse(key('b'), nil)
	_, err = only.Open(sealedOld, "cli_1")
	if !errors.Is(err, ErrCannotOpen) || !strings.Contains(err.Error(), old.CurrentID()) {
		t.Errorf("Open without the old key = %v, want ErrCannotOpen naming key %s", err, old.CurrentID())
	}
}

func TestNoKey(t *testing.T) {
	k, err := Parse("", nil)
	if err != nil || k != nil {
		t.Fatalf("Parse(\"\") = %v, %v; want a nil keyring", k, err)
	}
	if _, err := k.Seal("whsk_x", "cli_1"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Seal without a key = %v, want ErrNoKey", err)
	}
	if !strings.Contains(ErrNoKey.Error(), "WEBHOOK_KEY_ENCRYPTION_KEY") || !strings.Contains(ErrNoKey.Error(), "openssl rand -base64 32") {
		t.Errorf("ErrNoKey does not say how to set the key: %v", ErrNoKey)
	}
	if got, err := k.Open("whsec_plain", "cli_1"); err != nil || got != "whsec_plain" {
		t.Errorf("Open(plaintext) without a key = %q, %v", got, err)
	}
	sealing, _ := Parse(key('a'), nil)
	sealed, _ := sealing.Seal("whsec_x", "cli_1")
	if _, err := k.Open(sealed, "cli_1"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Open(sealed) without a key = %v, want ErrNoKey", err)
	}
	if k.CurrentID() != "" || k.OldKeys() != 0 || k.NeedsReseal("whsec_x") {
		t.Error("a nil keyring claims a key")
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		current string
		old     []string
	}{
		"not base64":           {current: "not base64!"},
		"16 bytes":             {current: base64.StdEncoding.EncodeToString(make([]byte, 16))},
		"old key too short":    {current: key('a'), old: []string{base64.StdEncoding.EncodeToString(make([]byte, 31))}},
		"old without current":  {old: []string{key('a')}},
		"raw 32 chars, no b64": {current: strings.Repeat("k", 32)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.current, tc.old)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if tc.current != "" && strings.Contains(err.Error(), tc.current) {
				t.Errorf("error %q shows the key", err)
			}
		})
	}
	// The current key listed again among the old ones is harmless.
	k, err := Parse(key('a'), []string{key('a')})
	if err != nil || k.OldKeys() != 0 {
		t.Errorf("Parse(a, [a]) = %d old keys, %v; want 0", k.OldKeys(), err)
	}
}

func TestPrintingShowsNoKey(t *testing.T) {
	k, _ := Parse(key('a'), []string{key('b')})
	for _, s := range []string{fmt.Sprintf("%v", k), fmt.Sprintf("%+v", struct{ K *Keyring }{k}), fmt.Sprintf("%#v", k)} {
		if strings.Contains(s, "aaaa") || strings.Contains(s, key('a')[:8]) || !strings.Contains(s, k.CurrentID()) {
			t.Errorf("printed %q", s)
		}
	}
}
