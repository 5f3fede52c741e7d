package webhook

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Conformance of v1a (ed25519) signatures with implementations no one here
// wrote. Of the official Standard Webhooks libraries we can install, none
// verifies v1a: the npm standardwebhooks 1.1.1 (pinned in testdata/node) and
// the Go module github.com/standard-webhooks/standard-webhooks/libraries
// (v0.0.1 and its main branch) both skip every signature whose version is
// not v1. So v1a is checked with Node's crypto.verify, the key imported from
// our JWK exactly as a receiver would from GET /v1/webhook-keys, and the
// standardwebhooks library checks that the v1 half of a rotation header
// still verifies beside a v1a signature it does not understand.

// jwkMap is a JWK as node gets it, through JSON.
func jwkMap(t *testing.T, j JWK) map[string]string {
	t.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConformanceEd25519NodeCrypto(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Node.js conformance check")
	}
	edA, edB, hmacA := mustNewSigningKey(t), mustNewSigningKey(t), mustSecret(t)
	pubOf := func(k string) ed25519.PublicKey {
		pub, err := PublicKeyOf(k)
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
	unicode := []byte(`{"type":"report.failed","data":{"customer":"Zoë Ærøskøbing — 日本語 🚀","note":"\u00e9 \\ \" / <>&"}}`)
	ascii := []byte(`{"type":"report.succeeded","timestamp":"2026-04-01T12:00:00Z","data":{"id":"rep_1","sha256":"ab12"}}`)

	type check struct {
		name   string
		jwk    ed25519.PublicKey // node crypto verifies v1a with it
		secret string            // or standardwebhooks verifies v1 with it
		tamper bool
		wantOK bool
	}
	messages := []struct {
		name   string
		keys   SigningKeys
		body   []byte
		checks []check
	}{
		{"ed25519 only", SigningKeys{edA}, unicode, []check{
			{name: "its key", jwk: pubOf(edA), wantOK: true},
			{name: "control: another key", jwk: pubOf(edB)},
			{name: "control: tampered body", jwk: pubOf(edA), tamper: true},
			// The reference library skips v1a, so it finds nothing to verify.
			{name: "standardwebhooks: no v1 signature to check", secret: hmacA},
		}},
		{"rotation v1 to v1a", SigningKeys{edA, hmacA}, ascii, []check{
			{name: "the new ed25519 key", jwk: pubOf(edA), wantOK: true},
			{name: "standardwebhooks with the old secret", secret: hmacA, wantOK: true},
			{name: "control: standardwebhooks, tampered", secret: hmacA, tamper: true},
		}},
		{"rotation v1a to v1", SigningKeys{hmacA, edA}, unicode, []check{
			{name: "the old ed25519 key", jwk: pubOf(edA), wantOK: true},
			{name: "standardwebhooks with the new secret", secret: hmacA, wantOK: true},
		}},
		{"rotation v1a to v1a", SigningKeys{edB, edA}, ascii, []check{
			{name: "the new key", jwk: pubOf(edB), wantOK: true},
			{name: "the old key", jwk: pubOf(edA), wantOK: true},
			{name: "control: a third key", jwk: pubOf(mustNewSigningKey(t))},
		}},
	}

	// Every message goes through the real client to a receiver that records
	// exactly what was sent; node then verifies those headers and bytes.
	var (
		req   nodeRequest
		names []string // per check, in request order: ed25519 first, then v1
		want  []bool
		v1    []string
		v1OK  []bool
		c     = devClient(ClientConfig{})
	)
	for i, m := range messages {
		recv, reqs := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
		res := c.Send(t.Context(), Message{ID: "dlv_v1a_" + strconv.Itoa(i), URL: recv.URL, Body: m.body, Secrets: m.keys})
		if res.Outcome != OutcomeDelivered {
			t.Fatalf("%s: Send = %+v", m.name, res)
		}
		rec := reqs()[0]
		h := map[string]string{}
		for k := range rec.header {
			h[k] = rec.header.Get(k)
		}
		for _, ch := range m.checks {
			body := rec.body
			if ch.tamper {
				body = append(bytes.Clone(body[:len(body)-1]), ' ', '}')
			}
			payload := base64.StdEncoding.EncodeToString(body)
			if ch.jwk != nil {
				req.Ed25519Verify = append(req.Ed25519Verify, nodeEd25519Case{JWK: jwkMap(t, NewJWK(ch.jwk)), Headers: h, PayloadB64: payload})
				names, want = append(names, m.name+": "+ch.name), append(want, ch.wantOK)
			} else {
				req.Verify = append(req.Verify, nodeVerifyCase{Secret: ch.secret, Headers: h, PayloadB64: payload})
				v1, v1OK = append(v1, m.name+": "+ch.name), append(v1OK, ch.wantOK)
			}
		}
	}

	// Node signs with the RFC 8032 seed; ed25519 is deterministic, so our
	// signature must be the same bytes, and our Verify must accept node's.
	seed, _ := hex.DecodeString(rfcSeedHex)
	rfcPriv := ed25519.NewKeyFromSeed(seed)
	rfcPub, _ := rfcPriv.Public().(ed25519.PublicKey)
	privJWK := jwkMap(t, NewJWK(rfcPub))
	privJWK["d"] = base64.RawURLEncoding.EncodeToString(seed)
	now := time.Now().Unix()
	signs := []nodeEd25519Case{
		{JWK: privJWK, ID: specID, Timestamp: specTimestamp, PayloadB64: base64.StdEncoding.EncodeToString([]byte(specBody))},
		{JWK: privJWK, ID: "msg_unicode", Timestamp: now, PayloadB64: base64.StdEncoding.EncodeToString(unicode)},
	}
	req.Ed25519Sign = signs

	got := runNodeRequest(t, req)
	for i, v := range got.Ed25519Verify {
		if v.OK != want[i] {
			t.Errorf("node crypto.verify %s: ok = %t (%s), want %t", names[i], v.OK, v.Error, want[i])
		}
	}
	for i, v := range got.Verify {
		if v.OK != v1OK[i] {
			t.Errorf("standardwebhooks verify %s: ok = %t (%s), want %t", v1[i], v.OK, v.Error, v1OK[i])
		}
	}
	if got.Ed25519Sign[0] != specV1aSignature {
		t.Errorf("node's v1a signature of the spec message = %q, want %q", got.Ed25519Sign[0], specV1aSignature)
	}
	rfcKey := PrivateKeyPrefix + base64.StdEncoding.EncodeToString(rfcPriv)
	for i, sc := range signs {
		body, _ := base64.StdEncoding.DecodeString(sc.PayloadB64)
		ts := time.Unix(sc.Timestamp, 0)
		ours, err := Sign(rfcKey, sc.ID, ts, body)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if diff := cmp.Diff(got.Ed25519Sign[i], ours); diff != "" {
			t.Errorf("sign case %d: signature (-node +ours):\n%s", i, diff)
		}
		if err := Verify(EncodePublicKey(rfcPub), headers(sc.ID, strconv.FormatInt(sc.Timestamp, 10), got.Ed25519Sign[i]), body, ts); err != nil {
			t.Errorf("sign case %d: Verify(node's signature): %v", i, err)
		}
	}
}

func mustSecret(t *testing.T) string {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
