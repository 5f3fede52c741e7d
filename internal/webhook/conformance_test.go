package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Conformance with the standardwebhooks npm package, a receiver library no
// one here wrote, pinned in testdata/node/package-lock.json.

const nodeDir = "testdata/node"

type nodeVerifyCase struct {
	Secret     string            `json:"secret"`
	Headers    map[string]string `json:"headers"`
	PayloadB64 string            `json:"payload_b64"`
}

type nodeSignCase struct {
	Secret     string `json:"secret"`
	ID         string `json:"id"`
	Timestamp  int64  `json:"timestamp"`
	PayloadB64 string `json:"payload_b64"`
}

type nodeVerdict struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// nodeEd25519Case is a v1a message for Node's crypto: to verify with a
// public JWK (headers set), or to sign with a private one (id and timestamp).
type nodeEd25519Case struct {
	JWK        map[string]string `json:"jwk"`
	Headers    map[string]string `json:"headers,omitempty"`
	ID         string            `json:"id,omitempty"`
	Timestamp  int64             `json:"timestamp,omitempty"`
	PayloadB64 string            `json:"payload_b64"`
}

type nodeRequest struct {
	Verify        []nodeVerifyCase  `json:"verify"`
	Sign          []nodeSignCase    `json:"sign"`
	Ed25519Verify []nodeEd25519Case `json:"ed25519_verify"`
	Ed25519Sign   []nodeEd25519Case `json:"ed25519_sign"`
}

type nodeResponse struct {
	Verify        []nodeVerdict `json:"verify"`
	Sign          []string      `json:"sign"`
	Ed25519Verify []nodeVerdict `json:"ed25519_verify"`
	Ed25519Sign   []string      `json:"ed25519_sign"`
}

// runNode installs the pinned library when needed and runs conformance.js.
func runNode(t *testing.T, verify []nodeVerifyCase, sign []nodeSignCase) ([]nodeVerdict, []string) {
	t.Helper()
	got := runNodeRequest(t, nodeRequest{Verify: verify, Sign: sign})
	return got.Verify, got.Sign
}

// runNodeRequest runs conformance.js on every kind of case at once.
func runNodeRequest(t *testing.T, req nodeRequest) nodeResponse {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found on PATH: the conformance test needs Node.js 20+ and npm (Debian: apt-get install -y nodejs npm), or run go test -short to skip it")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "standardwebhooks")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatalf("npm not found on PATH: needed once to install %s/node_modules (Debian: apt-get install -y npm)", nodeDir)
		}
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = nodeDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s\nThe npm registry must be reachable once; or run go test -short to skip", nodeDir, err, out)
		}
	}

	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, "conformance.js")
	cmd.Dir = nodeDir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node conformance.js: %v\n%s", err, stderr.String())
	}
	var got nodeResponse
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decode node output %q: %v", out, err)
	}
	if len(got.Verify) != len(req.Verify) || len(got.Sign) != len(req.Sign) ||
		len(got.Ed25519Verify) != len(req.Ed25519Verify) || len(got.Ed25519Sign) != len(req.Ed25519Sign) {
		t.Fatalf("node answered %d+%d verdicts and %d+%d signatures, want %d+%d and %d+%d",
			len(got.Verify), len(got.Ed25519Verify), len(got.Sign), len(got.Ed25519Sign),
			len(req.Verify), len(req.Ed25519Verify), len(req.Sign), len(req.Ed25519Sign))
	}
	return got
}

func TestConformanceStandardWebhooksJS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Node.js conformance check")
	}
	secretA, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	secretB, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	secret64 := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, 64))
	bodies := map[string][]byte{
		"ascii":   []byte(`{"type":"report.succeeded","timestamp":"2026-04-01T12:00:00Z","data":{"id":"rep_1","sha256":"ab12"}}`),
		"unicode": []byte(`{"type":"report.failed","data":{"customer":"Zoë Ærøskøbing — 日本語 🚀","note":"\u00e9 \\ \" / <>&"}}`),
		"spec":    []byte(specBody),
	}

	// Every message goes through the real client to a receiver that records
	// exactly what was sent; node then verifies those headers and bytes.
	wrongSecret := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	type sent struct {
		name    string
		secrets []string
		body    []byte
	}
	var (
		cases    []nodeVerifyCase
		names    []string
		wantOK   []bool
		c        = devClient(ClientConfig{})
		messages = []sent{
			{"single secret, ascii", []string{secretA}, bodies["ascii"]},
			{"single secret, unicode", []string{secretA}, bodies["unicode"]},
			{"spec secret (24 bytes, unpadded)", []string{specSecret}, bodies["spec"]},
			{"64-byte secret", []string{secret64}, bodies["unicode"]},
			{"rotation: old and new secret", []string{secretA, secretB}, bodies["unicode"]},
		}
	)
	for i, m := range messages {
		recv, reqs := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
		res := c.Send(t.Context(), Message{ID: "dlv_conf_" + strconv.Itoa(i), URL: recv.URL, Body: m.body, Secrets: m.secrets})
		if res.Outcome != OutcomeDelivered {
			t.Fatalf("%s: Send = %+v", m.name, res)
		}
		rec := reqs()[0]
		h := map[string]string{}
		for k := range rec.header {
			h[k] = rec.header.Get(k)
		}
		for j, secret := range m.secrets {
			cases = append(cases, nodeVerifyCase{Secret: secret, Headers: h, PayloadB64: base64.StdEncoding.EncodeToString(rec.body)})
			names = append(names, m.name+", verified with secret "+strconv.Itoa(j))
			wantOK = append(wantOK, true)
		}
		// Controls: node must reject what was not signed with its secret or was altered.
		tampered := append(bytes.Clone(rec.body[:len(rec.body)-1]), ' ', '}')
		cases = append(cases,
			nodeVerifyCase{Secret: wrongSecret, Headers: h, PayloadB64: base64.StdEncoding.EncodeToString(rec.body)},
			nodeVerifyCase{Secret: m.secrets[0], Headers: h, PayloadB64: base64.StdEncoding.EncodeToString(tampered)},
		)
		names = append(names, m.name+", control: wrong secret", m.name+", control: tampered body")
		wantOK = append(wantOK, false, false)
	}

	// node signs; our Verify must accept and our Sign must agree byte for byte.
	now := time.Now()
	signCases := []nodeSignCase{
		{Secret: specSecret, ID: specID, Timestamp: specTimestamp, PayloadB64: base64.StdEncoding.EncodeToString([]byte(specBody))},
		{Secret: secretA, ID: "msg_unicode", Timestamp: now.Unix(), PayloadB64: base64.StdEncoding.EncodeToString(bodies["unicode"])},
		{Secret: secret64, ID: "msg_64", Timestamp: now.Unix(), PayloadB64: base64.StdEncoding.EncodeToString(bodies["ascii"])},
	}

	verdicts, sigs := runNode(t, cases, signCases)

	for i, v := range verdicts {
		if v.OK != wantOK[i] {
			t.Errorf("standardwebhooks verify %s: ok = %t (%s), want %t", names[i], v.OK, v.Error, wantOK[i])
		}
	}
	for i, sc := range signCases {
		body, _ := base64.StdEncoding.DecodeString(sc.PayloadB64)
		ts := time.Unix(sc.Timestamp, 0)
		ours, err := Sign(sc.Secret, sc.ID, ts, body)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if diff := cmp.Diff(sigs[i], ours); diff != "" {
			t.Errorf("sign case %d: signature (-node +ours):\n%s", i, diff)
		}
		h := http.Header{}
		h.Set(HeaderID, sc.ID)
		h.Set(HeaderTimestamp, strconv.FormatInt(sc.Timestamp, 10))
		h.Set(HeaderSignature, sigs[i])
		if err := Verify(sc.Secret, h, body, ts.Add(time.Minute)); err != nil {
			t.Errorf("sign case %d: Verify(node's signature): %v", i, err)
		}
	}
}
