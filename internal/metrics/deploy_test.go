package metrics_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.yaml.in/yaml/v2"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/metrics"
	"github.com/reportd/reportd/internal/report"
)

const deployDir = "../../deploy"

// TestDeployFiles keeps deploy/ true to the code: the alert rules and the
// Prometheus config parse, the dashboard is JSON, and every reportd_ metric
// they name is one this package exports, and every alert has a unit test
// in alerts_test.yml. promtool (scripts/test-deps.sh installs it) checks
// the rules and config and runs those unit tests.
func TestDeployFiles(t *testing.T) {
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	alerts := readFile(t, "alerts.yml")
	if err := yaml.UnmarshalStrict(alerts, &rules); err != nil {
		t.Fatalf("parse alerts.yml: %v", err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alerts.yml: rule %+v lacks an alert name, expr, severity or summary", r)
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yml has no rules")
	}
	var ruleTests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(readFile(t, "alerts_test.yml"), &ruleTests); err != nil {
		t.Fatalf("parse alerts_test.yml: %v", err)
	}
	tested := map[string]bool{}
	for _, rt := range ruleTests.Tests {
		for _, a := range rt.AlertRuleTest {
			tested[a.Alertname] = true
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !tested[r.Alert] {
				t.Errorf("alerts.yml: alert %s has no test in alerts_test.yml", r.Alert)
			}
		}
	}

	var config map[string]any
	if err := yaml.Unmarshal(readFile(t, "prometheus.yml"), &config); err != nil {
		t.Fatalf("parse prometheus.yml: %v", err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dash := readFile(t, "grafana-dashboard.json")
	if err := json.Unmarshal(dash, &dashboard); err != nil {
		t.Fatalf("parse grafana-dashboard.json: %v", err)
	}
	if len(dashboard.Panels) == 0 {
		t.Fatal("grafana-dashboard.json has no panels")
	}

	exported := exportedNames(t)
	used := regexp.MustCompile(`reportd_[a-z_]+`)
	for file, text := range map[string][]byte{"alerts.yml": alerts, "grafana-dashboard.json": dash} {
		for _, name := range used.FindAllString(string(text), -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && exported[b] {
					base = b
				}
			}
			if !exported[base] {
				t.Errorf("%s uses %s, which internal/metrics does not export", file, name)
			}
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run scripts/test-deps.sh (or apt-get install prometheus)")
	}
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"check", "config", "prometheus.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = deployDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exportedNames gathers a registry where every metric has a sample.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New(nil)
	m.Observe("/v1/reports", "POST", 202, time.Millisecond)
	m.ReportCreated(report.TypeOrderHistory, report.FormatPDF)
	m.ReportFinished(report.TypeOrderHistory, report.FormatPDF, domain.StatusSucceeded)
	m.RenderDone(report.TypeOrderHistory, report.FormatPDF, time.Second)
	m.Uploaded(report.TypeOrderHistory, report.FormatPDF, 1)
	m.AttemptDone("delivered", 200)
	m.Delivered(time.Second)
	m.DeadLettered()
	m.WatchQueues(fakeInspector{
		QueuesFunc:       func() ([]string, error) { return nil, nil },
		GetQueueInfoFunc: func(q string) (*asynq.QueueInfo, error) { return &asynq.QueueInfo{Queue: q}, nil },
	}, "reports")
	m.WatchProjections(func(context.Context) ([]domain.ProjectionStatus, error) {
		return []domain.ProjectionStatus{{Name: "orders", Partitions: []domain.PartitionStatus{{Partition: 0, Owner: "worker-1"}}}}, nil
	})
	m.WatchProjectionDrift(func(context.Context) ([]domain.ProjectionDrift, error) {
		return []domain.ProjectionDrift{{Name: "orders"}}, nil
	})
	m.WatchNATSIngestion(func(context.Context) (metrics.NATSConsumerLag, error) {
		return metrics.NATSConsumerLag{Stream: "S", Consumer: "c"}, nil
	})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}
