package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/testenv"
)

// buildReportctl builds the CLI into the test's temporary directory.
func buildReportctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "reportctl")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/reportctl").CombinedOutput(); err != nil {
		t.Fatalf("build reportctl: %v\n%s", err, out)
	}
	return bin
}

// reportctl builds the CLI once per test and runs it with env's variables;
// a failing command fails the test.
func reportctl(t *testing.T, env *testenv.Env) func(args ...string) (stdout, stderr string) {
	t.Helper()
	bin := buildReportctl(t)
	return func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env.Environ()
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("reportctl %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String(), errOut.String()
	}
}

func TestReportctl(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	run := reportctl(t, env)
	run("migrate")

	out, _ := run("client", "create", "--name", "demo", "--webhook-url", "https://hooks.example.com/r", "--scopes", "reports,events:write")
	var created struct {
		ClientID      string `json:"client_id"`
		APIKey        string `json:"api_key"`
		WebhookSecret string `json:"webhook_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.APIKey, "rk_") ||
		!strings.HasPrefix(created.WebhookSecret, "whsec_") || !strings.HasPrefix(created.ClientID, "cli_") {
		t.Fatalf("client create printed %q (%v)", out, err)
	}

	out, progress := run("seed", "--customers", "3", "--orders", "4")
	var seeded struct {
		Customers []string `json:"customers"`
		Merchants []string `json:"merchants"`
		Orders    int      `json:"orders"`
	}
	if err := json.Unmarshal([]byte(out), &seeded); err != nil || len(seeded.Customers) != 3 || seeded.Orders != 12 || len(seeded.Merchants) == 0 {
		t.Fatalf("seed printed %q (%v)", out, err)
	}
	if !strings.Contains(progress, "events appended") {
		t.Fatalf("seed showed no progress on stderr: %q", progress)
	}

	out, _ = run("secret", "rotate", "--client", created.ClientID, "--grace", "1h")
	if !strings.Contains(out, `"webhook_secret": "whsec_`) {
		t.Fatalf("secret rotate printed %q", out)
	}
	out, _ = run("client", "revoke-key", "--client", created.ClientID)
	if !strings.Contains(out, `"revoked_keys": 1`) {
		t.Fatalf("client revoke-key printed %q", out)
	}
	out, progress = run("projections", "rebuild")
	if !strings.Contains(out, "customer_order_history") || !strings.Contains(progress, "rebuild:") {
		t.Fatalf("projections rebuild printed %q / %q", out, progress)
	}
	out, _ = run("deliveries", "replay", "--status", "dead")
	if !strings.Contains(out, `"replayed": 0`) {
		t.Fatalf("deliveries replay printed %q", out)
	}

	// An operator re-enables a disabled webhook endpoint, then replays its
	// dead letters within a window.
	epID := ids.New("ep")
	if _, err := env.DB(t).Exec(t.Context(), `INSERT INTO webhook_endpoints (id, client_id, url, status, disabled_at, failing_since)
		VALUES ($1, $2, 'https://hooks.example.com/ep', 'disabled', now(), now() - interval '5 days')`, epID, created.ClientID); err != nil {
		t.Fatal(err)
	}
	out, _ = run("endpoint", "enable", "--id", epID)
	if !strings.Contains(out, `"status": "active"`) {
		t.Fatalf("endpoint enable printed %q", out)
	}
	out, _ = run("deliveries", "replay", "--endpoint", epID, "--since", "2026-01-01T00:00:00Z", "--until", "2030-01-01T00:00:00Z")
	if !strings.Contains(out, `"replayed": 0`) {
		t.Fatalf("deliveries replay --endpoint printed %q", out)
	}
}

// An operator at a plain shell, without the development opt-in, is told how
// to allow an http webhook URL instead of only that it is refused.
func TestReportctlHTTPWebhookSaysHowToOptIn(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "false"})
	bin := buildReportctl(t)
	cmd := exec.Command(bin, "client", "create", "--name", "dev", "--webhook-url", "http://127.0.0.1:9999/hooks")
	cmd.Env = env.Environ()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("client create accepted an http URL without the opt-in: %s", out)
	}
	if !strings.Contains(string(out), "WEBHOOK_ALLOW_PRIVATE_NETWORKS=true") {
		t.Fatalf("client create did not say how to opt in: %s", out)
	}
}
