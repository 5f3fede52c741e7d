package webhook

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// RFC 8032 §7.1, TEST 1: a fixed seed and the public key it derives, which
// RFC 8037 Appendix A uses as its example JWK.
const (
	rfcSeedHex       = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfcPublicHex     = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	rfcJWKX          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfcJWKThumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" // RFC 8037 A.3
	// specV1aSignature is the v1a signature of the spec message (specID,
	// specTimestamp, specBody) by the RFC seed. ed25519 is deterministic, so
	// it is fixed; it was first computed with Node's crypto.sign, and the
	// conformance test has node sign the same bytes again.
	specV1aSignature = "v1a,fldxM4gAKugP6nnt1hdz3sgGfZ6d99nzrMFnZOELIxbzEHoVmAb2ADpkJK7zgPePmPsle0zV9jSeGlHFG2NVAw=="
)

func rfcKey(t *testing.T) (seedKey, fullKey string, pub ed25519.PublicKey) {
	t.Helper()
	seed, err := hex.DecodeString(rfcSeedHex)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ = hex.DecodeString(rfcPublicHex)
	priv := ed25519.NewKeyFromSeed(seed)
	return PrivateKeyPrefix + base64.StdEncoding.EncodeToString(seed), PrivateKeyPrefix + base64.StdEncoding.EncodeToString(priv), pub
}

func TestSignV1aFixedSeed(t *testing.T) {
	seedKey, fullKey, rfcPub := rfcKey(t)
	ts := time.Unix(specTimestamp, 0)
	for name, key := range map[string]string{"32-byte seed": seedKey, "64-byte private key": fullKey} {
		t.Run(name, func(t *testing.T) {
			pub, err := PublicKeyOf(key)
			if err != nil {
				t.Fatalf("PublicKeyOf: %v", err)
			}
			if !pub.Equal(rfcPub) {
				t.Fatalf("public key = %x, want RFC 8032's %s", pub, rfcPublicHex)
			}
			got, err := Sign(key, specID, ts, []byte(specBody))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got != specV1aSignature {
				t.Errorf("Sign = %q, want %q", got, specV1aSignature)
			}
			// crypto/ed25519 checks the bytes directly: what is signed is
			// "{id}.{timestamp}.{body}".
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(got, "v1a,"))
			if err != nil {
				t.Fatal(err)
			}
			if !ed25519.Verify(rfcPub, []byte(fmt.Sprintf("%s.%d.%s", specID, specTimestamp, specBody)), raw) {
				t.Error("ed25519.Verify rejects the v1a signature")
			}
			if err := Verify(EncodePublicKey(rfcPub), headers(specID, "1614265330", got), []byte(specBody), ts); err != nil {
				t.Errorf("Verify(whpk_): %v", err)
			}
		})
	}
}

func TestVerifyV1a(t *testing.T) {
	_, key, rfcPub := rfcKey(t)
	ts := time.Unix(specTimestamp, 0)
	const tsText = "1614265330"
	otherPriv, otherPub, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	otherSig, err := Sign(otherPriv, specID, ts, []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Sign(key, specID, ts, []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	pub := EncodePublicKey(rfcPub)
	for name, tc := range map[string]struct {
		key, sig, body, id string
		want               error
	}{
		"v1a":                          {sig: sig},
		"one match among several":      {sig: otherSig + " " + specSignature + " " + sig},
		"other key's signature":        {sig: otherSig, want: ErrNoMatchingSignature},
		"the other key verifies its":   {key: otherPub, sig: otherSig},
		"a v1 signature does not":      {sig: specSignature, want: ErrNoMatchingSignature},
		"v1a bytes labelled v1":        {sig: "v1," + strings.TrimPrefix(sig, "v1a,"), want: ErrNoMatchingSignature},
		"not base64":                   {sig: "v1a,!!!", want: ErrNoMatchingSignature},
		"tampered body":                {sig: sig, body: `{"test": 2432232315}`, want: ErrNoMatchingSignature},
		"other id":                     {sig: sig, id: "msg_other", want: ErrNoMatchingSignature},
		"public key of the wrong size": {key: PublicKeyPrefix + base64.StdEncoding.EncodeToString(make([]byte, 31)), sig: sig, want: ErrInvalidSecret},
	} {
		t.Run(name, func(t *testing.T) {
			k, body, id := cmpOr(tc.key, pub), cmpOr(tc.body, specBody), cmpOr(tc.id, specID)
			err := Verify(k, headers(id, tsText, tc.sig), []byte(body), ts)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Verify error = %v, want %v", err, tc.want)
			}
		})
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// During a rotation between schemes, both signatures travel in one header,
// and a receiver holding either key accepts the message.
func TestSignatureHeaderMixedRotation(t *testing.T) {
	_, edKey, rfcPub := rfcKey(t)
	ts := time.Unix(specTimestamp, 0)
	for name, keys := range map[string]SigningKeys{
		"v1 to v1a":  {edKey, specSecret},
		"v1a to v1":  {specSecret, edKey},
		"v1a to v1a": {edKey, mustNewSigningKey(t)},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := SignatureHeader(keys, specID, ts, []byte(specBody))
			if err != nil {
				t.Fatalf("SignatureHeader: %v", err)
			}
			sigs := strings.Fields(got)
			if len(sigs) != len(keys) {
				t.Fatalf("header %q has %d signatures, want %d", got, len(sigs), len(keys))
			}
			for i, k := range keys {
				version := map[string]string{SigningHMAC: "v1,", SigningEd25519: "v1a,"}[SigningOf(k)]
				if !strings.HasPrefix(sigs[i], version) {
					t.Errorf("signature %d = %q, want it to start with %q", i, sigs[i], version)
				}
				verifyWith := k
				if SigningOf(k) == SigningEd25519 {
					pub, _ := PublicKeyOf(k)
					verifyWith = EncodePublicKey(pub)
				}
				if err := Verify(verifyWith, headers(specID, "1614265330", got), []byte(specBody), ts); err != nil {
					t.Errorf("Verify with key %d (%s): %v", i, SigningOf(k), err)
				}
			}
			if strings.Contains(got, specSignature) != (SigningOf(keys[0]) == SigningHMAC || SigningOf(keys[1]) == SigningHMAC) {
				t.Errorf("header %q: the spec v1 signature is there exactly when the spec secret is", got)
			}
		})
	}
	if err := Verify(EncodePublicKey(rfcPub), headers(specID, "1614265330", specSignature), []byte(specBody), ts); !errors.Is(err, ErrNoMatchingSignature) {
		t.Errorf("Verify(whpk_, v1 only) = %v, want ErrNoMatchingSignature", err)
	}
}

func mustNewSigningKey(t *testing.T) string {
	t.Helper()
	priv, pub, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(priv, "whsk_") || !strings.HasPrefix(pub, "whpk_") {
		t.Fatalf("NewSigningKey = %.5s…, %.5s…; want whsk_ and whpk_", priv, pub)
	}
	derived, err := PublicKeyOf(priv)
	if err != nil || EncodePublicKey(derived) != pub {
		t.Fatalf("PublicKeyOf(private) = %v, %v; want the public key NewSigningKey returned", derived, err)
	}
	return priv
}

func TestJWKSShape(t *testing.T) {
	_, _, rfcPub := rfcKey(t)
	otherPriv := mustNewSigningKey(t)
	otherPub, _ := PublicKeyOf(otherPriv)
	b, err := json.Marshal(NewJWKS([]ed25519.PublicKey{rfcPub, otherPub}))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"kty": "OKP", "crv": "Ed25519", "x": rfcJWKX, "kid": rfcJWKThumbprint, "use": "sig", "alg": "EdDSA"}
	if len(got.Keys) != 2 {
		t.Fatalf("JWKS %s has %d keys, want 2", b, len(got.Keys))
	}
	if diff := cmp.Diff(want, got.Keys[0]); diff != "" {
		t.Errorf("the RFC 8037 key as a JWK (-want +got):\n%s", diff)
	}
	if x := got.Keys[1]["x"]; strings.ContainsAny(x, "=+/") || len(x) != 43 {
		t.Errorf("x = %q, want 43 characters of base64url without padding", x)
	}
	if got.Keys[1]["kid"] == got.Keys[0]["kid"] {
		t.Error("two keys share a kid")
	}
	back, err := NewJWK(otherPub).PublicKey()
	if err != nil || !back.Equal(otherPub) {
		t.Errorf("JWK.PublicKey() = %x, %v; want the key back", back, err)
	}
	if b, _ := json.Marshal(NewJWKS(nil)); string(b) != `{"keys":[]}` {
		t.Errorf("an empty set = %s, want {\"keys\":[]}", b)
	}
}

func TestEd25519KeyErrorsAndPrinting(t *testing.T) {
	seedKey, fullKey, _ := rfcKey(t)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(fullKey, "whsk_"))
	mismatched := append([]byte{}, raw...)
	mismatched[40] ^= 1
	for name, key := range map[string]string{
		"wrong size":          PrivateKeyPrefix + base64.StdEncoding.EncodeToString(make([]byte, 48)),
		"halves do not match": PrivateKeyPrefix + base64.StdEncoding.EncodeToString(mismatched),
		"bad base64":          PrivateKeyPrefix + "!!!notbase64!!!",
		"no prefix":           "9d61b19deffd5a60ba844af492ec2cc4",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Sign(key, specID, time.Unix(specTimestamp, 0), []byte(specBody))
			if !errors.Is(err, ErrInvalidSecret) {
				t.Fatalf("Sign error = %v, want ErrInvalidSecret", err)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(key, "whsk_")) {
				t.Errorf("error %q contains the key", err)
			}
		})
	}
	keys := SigningKeys{specSecret, seedKey}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		printed := fmt.Sprintf(format, keys)
		if strings.Contains(printed, "whsec_") || strings.Contains(printed, "whsk_") {
			t.Errorf("Sprintf(%s, keys) = %s, shows a key", format, printed)
		}
	}
	if got := keys.String(); got != "SigningKeys[hmac ed25519]" {
		t.Errorf("String() = %q", got)
	}
}
