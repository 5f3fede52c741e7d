package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/testenv"
)

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// The reader the report package's tests use: exceljs, independent of the
// excelize that writes the files.
const xlsxReaderDir = "../internal/report/testdata/xlsxread"

type xlsxCell struct {
	Type   string          `json:"type"`
	Value  json.RawMessage `json:"value"`
	NumFmt string          `json:"num_fmt"`
}

func (c xlsxCell) str() string {
	var s string
	_ = json.Unmarshal(c.Value, &s)
	return s
}

type xlsxWorkbook struct {
	Sheets []struct {
		Name  string `json:"name"`
		Views []struct {
			State  string `json:"state"`
			YSplit int    `json:"y_split"`
		} `json:"views"`
		AutoFilter any          `json:"auto_filter"`
		Rows       [][]xlsxCell `json:"rows"`
	} `json:"sheets"`
}

func readWorkbook(t *testing.T, data []byte) xlsxWorkbook {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is missing: scripts/test-deps.sh installs it and exceljs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(xlsxReaderDir, "node_modules", "exceljs")); err != nil {
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = xlsxReaderDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", xlsxReaderDir, err, out)
		}
	}
	path := filepath.Join(t.TempDir(), "report.xlsx")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "node", "read.js", path)
	cmd.Dir = xlsxReaderDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exceljs cannot read the report: %v\n%s", err, stderr.String())
	}
	var wb xlsxWorkbook
	if err := json.Unmarshal(out, &wb); err != nil {
		t.Fatal(err)
	}
	return wb
}

// xlsxCents turns an amount cell's number back into minor units by its
// decimal text (19.9 EUR is 1990), never through a float.
func xlsxCents(t *testing.T, c xlsxCell, cur string) int64 {
	t.Helper()
	if c.Type != "Number" {
		t.Fatalf("amount cell is %s %s, want a Number", c.Type, c.Value)
	}
	_, fracOne, _ := strings.Cut(report.DecimalString(1, cur), ".")
	whole, frac, _ := strings.Cut(string(c.Value), ".")
	if len(frac) > len(fracOne) {
		t.Fatalf("amount %s has more decimals than %s allows", c.Value, cur)
	}
	v, err := strconv.ParseInt(whole+frac+strings.Repeat("0", len(fracOne)-len(frac)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestXlsxReportThroughAPI: a report with format xlsx goes through the API,
// the worker and S3 like the others; the file read back has typed cells, a
// frozen header, an autofilter and totals equal to the PDF's of the same
// request; and rebuilding the same report (same id, same data) gives the
// same sha256, for the XLSX and the PDF.
func TestXlsxReportThroughAPI(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, nil)
	client := env.CreateClient(t, "Tabellen GmbH", "")
	env.StartAPI(t)
	env.StartWorker(t)
	sum := seedOrders(t, env, client.ID, 2, 30)
	params := fmt.Sprintf(`"params":{"customer_id":%q,"from":"2026-01-01","to":"2026-12-31"}`, sum.Customers[0])
	xlsxID := submit(t, env, client.APIKey, `{"type":"order_history","format":"xlsx",`+params+`}`)
	pdfID := submit(t, env, client.APIKey, `{"type":"order_history","format":"pdf",`+params+`}`)

	rep := waitReport(t, env, client.APIKey, xlsxID)
	if rep.Status != "succeeded" || rep.Result == nil || rep.Result.ContentType != xlsxType || rep.Result.Rows != 30 || rep.Result.Pages != 0 {
		t.Fatalf("xlsx report: %+v %+v", rep, rep.Result)
	}
	pdfRep := waitReport(t, env, client.APIKey, pdfID)
	if pdfRep.Status != "succeeded" {
		t.Fatalf("pdf report: %+v", pdfRep)
	}
	file := downloadXLSX(t, env, client.APIKey, xlsxID, rep.Result.SHA256)
	wb := readWorkbook(t, file)
	checkOrdersSheet(t, wb, 30)
	checkTotalsAsPDF(t, wb, pdfText(t, download(t, env, client.APIKey, pdfID, pdfType)))

	rebuild(t, env, client.APIKey, map[string]string{xlsxID: rep.Result.SHA256, pdfID: pdfRep.Result.SHA256})
	if again := download(t, env, client.APIKey, xlsxID, xlsxType); !bytes.Equal(again, file) {
		t.Errorf("the rebuilt XLSX differs from the first")
	}
}

// downloadXLSX fetches the file by its presigned URL and checks its bytes,
// object key and download name.
func downloadXLSX(t *testing.T, env *testenv.Env, key, id, sum string) []byte {
	t.Helper()
	file := download(t, env, key, id, xlsxType)
	if h := sha256.Sum256(file); hex.EncodeToString(h[:]) != sum {
		t.Fatalf("downloaded file does not match the result's sha256")
	}
	var objectKey string
	if err := env.DB(t).QueryRow(context.Background(), `SELECT object_key FROM reports WHERE id = $1`, id).Scan(&objectKey); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(objectKey, "/"+id+".xlsx") {
		t.Errorf("object key %q, want …/%s.xlsx", objectKey, id)
	}
	dl := env.Do(t, key, http.MethodGet, "/v1/reports/"+id+"/download", "")
	expectStatus(t, dl, http.StatusSeeOther)
	dl.Body.Close()
	got, err := http.Get(dl.Header.Get("Location")) // presigned for GET only
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	if cd := got.Header.Get("Content-Disposition"); !strings.Contains(cd, ".xlsx\"") {
		t.Errorf("Content-Disposition %q, want an .xlsx filename", cd)
	}
	return file
}

// reEnUSAmountFmt is an amount's number format in the default locale: the
// currency symbol first, as en-US writes it (`"€"#,##0.00`, `"¥"#,##0`).
var reEnUSAmountFmt = regexp.MustCompile(`^"[^"0-9#]+"#,##0(\.0+)?$`)

func checkOrdersSheet(t *testing.T, wb xlsxWorkbook, rows int) {
	t.Helper()
	if len(wb.Sheets) != 2 || wb.Sheets[0].Name != "Orders" || wb.Sheets[1].Name != "Summary" {
		t.Fatalf("sheets: %+v", wb.Sheets)
	}
	orders := wb.Sheets[0]
	if len(orders.Views) != 1 || orders.Views[0].State != "frozen" || orders.Views[0].YSplit != 1 {
		t.Errorf("views %+v, want the header row frozen", orders.Views)
	}
	if got, want := strings.ReplaceAll(fmt.Sprint(orders.AutoFilter), "$", ""), fmt.Sprintf("A1:P%d", rows+1); got != want {
		t.Errorf("autofilter %v, want %s", orders.AutoFilter, want)
	}
	if len(orders.Rows) != rows+1 {
		t.Fatalf("%d rows, want a header and %d orders", len(orders.Rows), rows)
	}
	for i, row := range orders.Rows[1:] {
		if row[0].Type != "String" || !strings.HasPrefix(row[0].str(), "ord_") || row[4].Type != "Date" ||
			row[8].Type != "Number" || row[9].Type != "String" || row[10].Type != "Number" ||
			!reEnUSAmountFmt.MatchString(row[10].NumFmt) {
			t.Errorf("row %d: %+v", i+2, row)
		}
	}
}

// checkTotalsAsPDF: each totals row of the Summary prints as a line of the
// PDF's "Totals by currency", with the same figures.
func checkTotalsAsPDF(t *testing.T, wb xlsxWorkbook, pdfText string) {
	t.Helper()
	currency := regexp.MustCompile(`^[A-Z]{3}$`)
	totals := 0
	for _, row := range wb.Sheets[1].Rows {
		if len(row) < 6 || !currency.MatchString(row[0].str()) || row[1].Type != "Number" {
			continue
		}
		cur := row[0].str()
		cells := make([]string, 0, 8)
		// The PDF adds the cancellations and the orders with a refund after
		// the orders (checked against the CSV by internal/report's tests).
		cells = append(cells, regexp.QuoteMeta(cur), regexp.QuoteMeta(string(row[1].Value)), `[\d,]+`, `[\d,]+`)
		for _, c := range row[2:6] { // gross, refunds, net and tax
			cells = append(cells, regexp.QuoteMeta(report.FormatMoney(xlsxCents(t, c, cur), cur)))
		}
		if !regexp.MustCompile(`(?m)^\s*` + strings.Join(cells, `\s+`) + `\s*$`).MatchString(pdfText) {
			t.Errorf("the PDF has no totals line like the XLSX's %v", cells)
		}
		totals++
	}
	if totals == 0 {
		t.Fatalf("no totals rows in the Summary: %+v", wb.Sheets[1].Rows)
	}
}

// rebuild sets finished reports back to queued, as if their task had been
// lost, waits for the sweeper to build them again, and wants the same sha256.
func rebuild(t *testing.T, env *testenv.Env, key string, first map[string]string) {
	t.Helper()
	ctx := context.Background()
	pool := env.DB(t)
	ids := slices.Collect(maps.Keys(first))
	if _, err := pool.Exec(ctx, `UPDATE reports SET status = 'queued', updated_at = now() - interval '1 hour'
		WHERE id = ANY($1)`, ids); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var rebuilt int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM reports WHERE id = ANY($1) AND status = 'succeeded' AND attempts = 2`,
			ids).Scan(&rebuilt); err != nil {
			t.Fatal(err)
		}
		if rebuilt == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reports were not rebuilt within 60s (%d of %d)", rebuilt, len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for id, sum := range first {
		again := decode[reportBody](t, env.Do(t, key, http.MethodGet, "/v1/reports/"+id, ""))
		if again.Result == nil {
			t.Fatalf("%s rebuilt without a result: %+v", id, again)
		}
		if again.Result.SHA256 != sum {
			t.Errorf("%s rebuilt with sha256 %s, first %s", id, again.Result.SHA256, sum)
		}
	}
}
