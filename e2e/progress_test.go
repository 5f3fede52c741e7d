package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/testenv"
)

type progressBody struct {
	Status   string `json:"status"`
	Progress *struct {
		Phase      string `json:"phase"`
		RowsDone   int64  `json:"rows_done"`
		RowsTotal  int64  `json:"rows_total"`
		Percent    int    `json:"percent"`
		ETASeconds *int64 `json:"eta_seconds"`
	} `json:"progress"`
	Result *struct {
		Rows int `json:"rows"`
	} `json:"result"`
}

// TestProgressWhileRunning: a report with many rows is watched while it
// renders. The worker's row hook holds the render at rows 320 and 480 (no
// sleeps: the test releases it; the tracker looks at its clock every 32nd
// row, so those are rows it reports), and GET /v1/reports/{id}, checked against
// the spec, shows the rows done so far, the snapshot's total, the percent
// and an ETA; once the report succeeds, progress is gone. Then a
// merchant_sales PDF through the same worker opens with its chart.
func TestProgressWhileRunning(t *testing.T) {
	const orders = 600
	env := testenv.New(t, nil)
	client := env.CreateClient(t, "Progress GmbH", "")
	env.StartAPI(t)

	holds := map[int]chan struct{}{320: make(chan struct{}), 480: make(chan struct{})}
	reached := make(chan int, len(holds))
	done := make(chan struct{})
	env.Worker.ProgressInterval = time.Nanosecond // write every row's count; the 1 s throttle is the tracker's unit test
	env.Worker.RowHook = func(_ string, n int) {
		if hold, ok := holds[n]; ok {
			reached <- n
			select {
			case <-hold:
			case <-done: // the test ended early: never hold the worker's shutdown
			}
		}
	}
	env.StartWorker(t)
	t.Cleanup(func() { close(done) }) // runs before the worker stops
	sum := seedOrders(t, env, client.ID, 1, orders)

	body := fmt.Sprintf(`{"type":"order_history","format":"pdf","params":{"customer_id":%q,"from":"2026-01-01","to":"2026-06-30"}}`, sum.Customers[0])
	id := submit(t, env, client.APIKey, body)
	get := func() progressBody {
		return decode[progressBody](t, env.Do(t, client.APIKey, http.MethodGet, "/v1/reports/"+id, ""))
	}

	for _, at := range []int{320, 480} {
		select {
		case n := <-reached:
			if n != at {
				t.Fatalf("the render reached row %d first, want %d", n, at)
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("the render did not reach row %d (is the worker running?)", at)
		}
		var rep progressBody
		testenv.Eventually(t, 30*time.Second, fmt.Sprintf("GET to show %d rows done", at), func() bool {
			rep = get()
			return rep.Progress != nil && rep.Progress.RowsDone == int64(at)
		})
		p := rep.Progress
		if rep.Status != "running" || p.Phase != "rendering" || p.RowsTotal != orders ||
			p.Percent != at*100/orders || p.Percent > 100 || p.ETASeconds == nil || *p.ETASeconds < 0 {
			t.Fatalf("at row %d: status %s, progress %+v", at, rep.Status, *p)
		}
		close(holds[at])
	}

	final := waitReport(t, env, client.APIKey, id)
	if final.Status != "succeeded" || final.Result == nil || final.Result.Rows != orders {
		t.Fatalf("report: %+v", final)
	}
	if rep := get(); rep.Progress != nil {
		t.Fatalf("a succeeded report still shows progress %+v", *rep.Progress)
	}

	// merchant_sales through the worker: the chart and the summary open it.
	body = fmt.Sprintf(`{"type":"merchant_sales","format":"pdf","params":{"merchant_id":%q,"from":"2026-01-01","to":"2026-03-31","locale":"de-DE"}}`, sum.Merchants[0])
	id = submit(t, env, client.APIKey, body)
	if rep := waitReport(t, env, client.APIKey, id); rep.Status != "succeeded" {
		t.Fatalf("merchant report: %+v", rep)
	}
	text := pdfText(t, download(t, env, client.APIKey, id, pdfType))
	chart, summary, table := strings.Index(text, "Umsatz pro Tag in"), strings.Index(text, "Zusammenfassung"), strings.Index(text, "Umsätze")
	if chart < 0 || summary < chart || table < summary {
		t.Errorf("the merchant PDF does not open with chart (%d), summary (%d), then table (%d):\n%s", chart, summary, table, text)
	}
}
