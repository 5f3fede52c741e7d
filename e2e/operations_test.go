package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/testenv"
	"github.com/reportd/reportd/internal/webhook"
)

func submitMany(t *testing.T, env *testenv.Env, key, customer string, n int, apis ...string) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		if len(apis) > 0 {
			env.APIURL = apis[i%len(apis)]
		}
		format := "pdf"
		if i%2 == 1 {
			format = "csv"
		}
		ids = append(ids, submit(t, env, key, fmt.Sprintf(`{"type":"order_history","format":%q,
			"params":{"customer_id":%q,"from":"2026-01-01","to":"2026-03-31"}}`, format, customer)))
	}
	return ids
}

// checkExactlyOnce asserts the invariant every fault test shares: each
// report succeeded and the receiver holds exactly one webhook-id for it.
func checkExactlyOnce(t *testing.T, env *testenv.Env, key string, receiver *testenv.Receiver, ids []string) (duplicates int) {
	t.Helper()
	for _, id := range ids {
		if rep := waitReport(t, env, key, id); rep.Status != "succeeded" {
			t.Fatalf("report %s ended %s: %+v", id, rep.Status, rep.Error)
		}
	}
	got := receiver.WaitFor(t, 60*time.Second, "one webhook per report", func(ds []testenv.Delivery) bool {
		return len(distinctIDs(ds)) >= len(ids)
	})
	perReport := map[string]map[string]bool{}
	for _, d := range got {
		if d.Verified != nil {
			t.Fatalf("a webhook did not verify: %v", d.Verified)
		}
		var ev webhookEvent
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if perReport[ev.Data.ID] == nil {
			perReport[ev.Data.ID] = map[string]bool{}
		}
		perReport[ev.Data.ID][d.ID] = true
	}
	for _, id := range ids {
		if n := len(perReport[id]); n != 1 {
			t.Errorf("report %s reached the receiver under %d webhook-ids, want exactly 1", id, n)
		}
	}
	return len(got) - len(distinctIDs(got))
}

// TestShutdownLosesNothing stops the worker (as SIGTERM does) while a batch
// is in flight; a new worker finishes every report.
func TestShutdownLosesNothing(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, map[string]string{"SHUTDOWN_TIMEOUT": "2s", "WORKER_CONCURRENCY": "2"})
	client, receiver := env.CreateClientWithReceiver(t, "Shutdown Co")
	env.StartAPI(t)
	stop := env.StartWorker(t)
	customer := seedOrders(t, env, client.ID, 1, 300).Customers[0]
	ids := submitMany(t, env, client.APIKey, customer, 30)
	pool := env.DB(t)
	testenv.Eventually(t, 30*time.Second, "some reports to start", func() bool {
		var started int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM reports WHERE status <> 'queued'`).Scan(&started); err != nil {
			t.Fatal(err)
		}
		return started > 0
	})
	stop()
	env.StartWorker(t)
	dups := checkExactlyOnce(t, env, client.APIKey, receiver, ids)
	t.Logf("30 reports across a worker shutdown: 0 lost, %d duplicate webhook deliveries", dups)
}

// TestTwoAPIsTwoWorkers runs two of each against the same Redis and
// Postgres: no report is built twice and none is lost.
func TestTwoAPIsTwoWorkers(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	client, receiver := env.CreateClientWithReceiver(t, "Scale Co")
	apis := []string{env.StartAPI(t), env.StartAPI(t)}
	env.StartWorker(t)
	env.StartWorker(t)
	customer := seedOrders(t, env, client.ID, 1, 50).Customers[0]
	ids := submitMany(t, env, client.APIKey, customer, 40, apis...)
	checkExactlyOnce(t, env, client.APIKey, receiver, ids)
	for _, id := range ids {
		if rep := waitReport(t, env, client.APIKey, id); rep.Webhook.Status != "delivered" && rep.Webhook.Status != "pending" {
			t.Errorf("report %s webhook %+v", id, rep.Webhook)
		}
	}
	ctx := context.Background()
	pool := env.DB(t)
	var builtTwice int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM reports WHERE attempts > 1`).Scan(&builtTwice); err != nil {
		t.Fatal(err)
	}
	if builtTwice != 0 {
		t.Errorf("%d reports were built more than once", builtTwice)
	}
}

// TestRetentionExpiresReports: after REPORT_RETENTION the sweeper deletes
// the file and the report becomes expired (410 on download).
func TestRetentionExpiresReports(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, map[string]string{"REPORT_RETENTION": "1s", "SWEEP_INTERVAL": "500ms"})
	client := env.CreateClient(t, "Short Memory Ltd", "")
	env.StartAPI(t)
	env.StartWorker(t)
	customer := seedOrders(t, env, client.ID, 1, 2).Customers[0]
	id := submitMany(t, env, client.APIKey, customer, 1)[0]
	if rep := waitReport(t, env, client.APIKey, id); rep.Status != "succeeded" && rep.Status != "expired" {
		t.Fatalf("report: %+v", rep)
	}
	var rep reportBody
	testenv.Eventually(t, 20*time.Second, "the report to expire after its retention", func() bool {
		rep = decode[reportBody](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/reports/"+id, ""))
		return rep.Status == "expired"
	})
	if rep.Result == nil || rep.Result.URL != "" {
		t.Fatalf("an expired report must keep its result facts and offer no URL: %+v", rep.Result)
	}
	resp := env.Do(t, client.APIKey, http.MethodGet, "/v1/reports/"+id+"/download", "")
	expectStatus(t, resp, http.StatusGone)
	resp.Body.Close()
}

// TestSecretRotationSignsWithBoth: during the grace period every webhook
// carries a signature under the new secret and one under the old.
func TestSecretRotationSignsWithBoth(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	client, receiver := env.CreateClientWithReceiver(t, "Rotating Ltd")
	env.StartAPI(t)
	env.StartWorker(t)
	customer := seedOrders(t, env, client.ID, 1, 2).Customers[0]

	newSecret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pool := env.DB(t)
	if err := postgres.NewStore(pool).RotateSecret(ctx, client.ID, newSecret, time.Hour); err != nil {
		t.Fatal(err)
	}
	submitMany(t, env, client.APIKey, customer, 1)
	d := receiver.WaitFor(t, 30*time.Second, "a webhook", func(ds []testenv.Delivery) bool { return len(ds) == 1 })[0]
	if n := len(strings.Fields(d.Signature)); n != 2 {
		t.Fatalf("webhook-signature has %d signatures during the grace period, want 2: %q", n, d.Signature)
	}
	h := http.Header{"Webhook-Id": {d.ID}, "Webhook-Timestamp": {d.Timestamp}, "Webhook-Signature": {d.Signature}}
	for name, secret := range map[string]string{"old": client.Secret, "new": newSecret} {
		if err := webhook.Verify(secret, h, d.Body, time.Now()); err != nil {
			t.Errorf("the %s secret does not verify: %v", name, err)
		}
	}
}

// TestReadyzNamesS3WhenItIsDown runs the API on a private S3 gateway and stops it.
func TestReadyzNamesS3WhenItIsDown(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("versitygw is missing: run scripts/dev-services.sh up")
		}
	}
	port := freePort(t)
	gw := exec.Command(bin, "--port", "127.0.0.1:"+strconv.Itoa(port), "posix", t.TempDir())
	gw.Env = append(os.Environ(), "ROOT_ACCESS_KEY=reportd", "ROOT_SECRET_KEY=reportd-secret-key")
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Process.Kill(); _ = gw.Wait() })
	waitTCP(t, port)
	env := testenv.New(t, map[string]string{"S3_ENDPOINT": fmt.Sprintf("http://127.0.0.1:%d", port)})
	env.StartAPI(t)
	expectStatus(t, env.Do(t, "", http.MethodGet, "/readyz", ""), http.StatusOK)

	_ = gw.Process.Kill()
	_ = gw.Wait()
	resp := env.Do(t, "", http.MethodGet, "/readyz", "")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"s3":"unavailable"`) ||
		!strings.Contains(string(body), `"postgres":"ok"`) {
		t.Fatalf("/readyz with S3 down: %d %s", resp.StatusCode, body)
	}
}
