package reportd

import (
	"os"
	"strings"
	"testing"
)

// The README's quick-start block must be what `make run` prints, with the
// demo key in place of rk_… and the default API address and first customer.
func TestREADMEQuickStartIsWhatMakeRunPrints(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("scripts/run-dev.sh")
	if err != nil {
		t.Fatal(err)
	}
	want := block(t, string(readme), "export REPORTD_KEY=", "# 202 ")
	printed := block(t, string(script), "export REPORTD_KEY=", "# 202 ")
	r := strings.NewReplacer(`$API`, "http://127.0.0.1:8080", `$customer`, "cus_1", `\$`, "$", `\\`, `\`, "$key", "rk_…")
	got := make([]string, len(printed))
	for i, line := range printed {
		got[i] = r.Replace(line)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("README quick start:\n%s\n\nmake run prints:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// block returns the lines from the one starting with first to the one
// starting with last, each with its indentation removed.
func block(t *testing.T, text, first, last string) []string {
	t.Helper()
	var out []string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if len(out) == 0 && !strings.HasPrefix(line, first) {
			continue
		}
		out = append(out, line)
		if strings.HasPrefix(line, last) {
			return out
		}
	}
	t.Fatalf("no block from %q to %q", first, last)
	return nil
}
