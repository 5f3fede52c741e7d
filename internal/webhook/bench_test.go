package webhook

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// benchBody is a report.succeeded payload of a realistic size (~1.5 KB).
var benchBody = []byte(`{"type":"report.succeeded","timestamp":"2026-04-01T12:00:00Z","data":{"id":"rep_01HV3K8Z9Q","status":"succeeded","type":"order_history","format":"pdf",` +
	`"params":{"customer_id":"cus_42","from":"2026-01-01","to":"2026-03-31"},"metadata":{"ref":"abc"},"attempts":1,` +
	`"created_at":"2026-04-01T11:59:58Z","started_at":"2026-04-01T11:59:58Z","completed_at":"2026-04-01T12:00:00Z",` +
	`"result":{"url":"https://s3.example/reports/cli_1/rep_01HV3K8Z9Q.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260401%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260401T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=` +
	`0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","expires_at":"2026-04-01T12:15:00Z","size_bytes":48213,` +
	`"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","content_type":"application/pdf","pages":3,"rows":120,"data_position":1200},` +
	`"webhook":{"status":"pending","attempts":0}}}`)

func BenchmarkSign(b *testing.B) {
	ts := time.Unix(specTimestamp, 0)
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(specSecret, specID, ts, benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignV1a is Sign with an ed25519 key: the key is decoded from
// its whsk_ form on every call, as a delivery does.
func BenchmarkSignV1a(b *testing.B) {
	key, _, err := NewSigningKey()
	if err != nil {
		b.Fatal(err)
	}
	ts := time.Unix(specTimestamp, 0)
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(key, specID, ts, benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	ts := time.Unix(specTimestamp, 0)
	sig, err := Sign(specSecret, specID, ts, benchBody)
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{}
	h.Set(HeaderID, specID)
	h.Set(HeaderTimestamp, strconv.FormatInt(specTimestamp, 10))
	h.Set(HeaderSignature, sig)
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(specSecret, h, benchBody, ts); err != nil {
			b.Fatal(err)
		}
	}
}

func benchReceiver(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkSendBareLoop is the baseline for BenchmarkSend: an unsigned POST
// of the same body with a plain net/http client over a kept-alive connection.
func BenchmarkSendBareLoop(b *testing.B) {
	srv := benchReceiver(b)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 10}}
	b.Cleanup(hc.CloseIdleConnections)
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, srv.URL, bytes.NewReader(benchBody))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkSend is one signed attempt through our client (URL validation,
// signing with two secrets as during a rotation, SSRF-guarded dialer,
// response capture), against the same receiver as BenchmarkSendBareLoop.
func BenchmarkSend(b *testing.B) {
	srv := benchReceiver(b)
	c := NewClient(ClientConfig{AllowPrivateNetworks: true})
	b.Cleanup(c.CloseIdleConnections)
	m := Message{ID: specID, URL: srv.URL, Body: benchBody, Secrets: []string{specSecret, specSecret}}
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Send(b.Context(), m); res.Outcome != OutcomeDelivered {
			b.Fatalf("Send = %+v", res)
		}
	}
}
