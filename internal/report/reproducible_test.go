package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// renderIntoEnv makes TestRenderReproducibleHelper render every sample file
// into the directory it names; unset, that test does nothing.
const renderIntoEnv = "REPORTD_TEST_RENDER_INTO"

func reproducibleSamples(tb testing.TB) map[string]func() Document {
	tb.Helper()
	return map[string]func() Document{
		"order_history":  func() Document { return orderDoc(tb, testOrders(250)) },
		"merchant_sales": func() Document { return merchantDoc(tb, testDays(90)) },
	}
}

// TestRenderReproducible renders each format of both report types in two
// separate processes, in different time zones and with wall clocks more
// than two seconds (a zip's time resolution) apart, and wants the same bytes:
// nothing in a file may come from the clock, the zone or map order.
func TestRenderReproducible(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	var firstStart time.Time
	for i, tz := range []string{"UTC", "Asia/Kathmandu"} {
		if i == 1 {
			// Wait on the clock itself, not a fixed sleep.
			for time.Since(firstStart) <= 2*time.Second {
				time.Sleep(50 * time.Millisecond)
			}
		} else {
			firstStart = time.Now()
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestRenderReproducibleHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), renderIntoEnv+"="+dirs[i], "TZ="+tz)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("render in a child process: %v\n%s", err, out)
		}
	}
	n := 0
	for name := range reproducibleSamples(t) {
		for _, f := range []Format{FormatPDF, FormatCSV, FormatXLSX} {
			file := name + "." + f.Extension()
			a, errA := os.ReadFile(filepath.Join(dirs[0], file))
			b, errB := os.ReadFile(filepath.Join(dirs[1], file))
			if errA != nil || errB != nil {
				t.Fatalf("read %s: %v %v", file, errA, errB)
			}
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("%s: the two renders differ (%d and %d bytes)", file, len(a), len(b))
			}
			n++
		}
	}
	if n != 6 {
		t.Errorf("compared %d files, want 6", n)
	}
}

func TestRenderReproducibleHelper(t *testing.T) {
	dir := os.Getenv(renderIntoEnv)
	if dir == "" {
		return // run only as TestRenderReproducible's child
	}
	for name, doc := range reproducibleSamples(t) {
		for _, f := range []Format{FormatPDF, FormatCSV, FormatXLSX} {
			var buf bytes.Buffer
			if _, err := Render(context.Background(), &buf, f, doc()); err != nil {
				t.Fatalf("render %s %s: %v", name, f, err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+"."+f.Extension()), buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}
