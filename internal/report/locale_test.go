package report

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const nbsp = "\u00a0"

// TestLocaleFormats: numbers, money, dates and times per supported locale,
// as CLDR (through x/text, and the tables in locale.go) has them.
func TestLocaleFormats(t *testing.T) {
	berlin, err := ParseTimezone("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	late := time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC) // 1 April in Berlin
	type row struct {
		Amount, Money, NegMoney, Yen, Count, Date, LocalDate, Stamp, StampUTC, Label string
	}
	tests := map[string]row{
		"en-US": {"1,234.56", "€1,234.56", "-$0.50", "¥1,234", "1,234,567", "3/31/2026", "4/1/2026",
			"4/1/2026 01:30 CEST (UTC+02:00)", "3/31/2026 23:30 UTC", "Totals by currency"},
		"en-GB": {"1,234.56", "€1,234.56", "-US$0.50", "JP¥1,234", "1,234,567", "31/03/2026", "01/04/2026",
			"01/04/2026 01:30 CEST (UTC+02:00)", "31/03/2026 23:30 UTC", "Totals by currency"},
		"de-DE": {"1.234,56", "1.234,56" + nbsp + "€", "-0,50" + nbsp + "$", "1.234" + nbsp + "¥", "1.234.567", "31.03.2026", "01.04.2026",
			"01.04.2026 01:30 CEST (UTC+02:00)", "31.03.2026 23:30 UTC", "Summen nach Währung"},
		"fr-FR": {"1" + nbsp + "234,56", "1" + nbsp + "234,56" + nbsp + "€", "-0,50" + nbsp + "$US", "1" + nbsp + "234" + nbsp + "JPY",
			"1" + nbsp + "234" + nbsp + "567", "31/03/2026", "01/04/2026", "01/04/2026 01:30 CEST (UTC+02:00)", "31/03/2026 23:30 UTC", "Totaux par devise"},
		"es-ES": {"1.234,56", "1.234,56" + nbsp + "€", "-0,50" + nbsp + "US$", "1.234" + nbsp + "JPY", "1.234.567", "31/3/2026", "1/4/2026",
			"1/4/2026 01:30 CEST (UTC+02:00)", "31/3/2026 23:30 UTC", "Totales por moneda"},
		"ja-JP": {"1,234.56", "€1,234.56", "-$0.50", "￥1,234", "1,234,567", "2026/03/31", "2026/04/01",
			"2026/04/01 01:30 CEST (UTC+02:00)", "2026/03/31 23:30 UTC", "通貨別合計"},
	}
	for _, tag := range SupportedLocales() {
		want, ok := tests[tag]
		if !ok {
			t.Errorf("no expectations for supported locale %s", tag)
			continue
		}
		l, err := ParseLocale(tag)
		if err != nil {
			t.Fatalf("ParseLocale(%q): %v", tag, err)
		}
		got := row{l.Amount(123456, "EUR"), l.Money(123456, "EUR"), l.Money(-50, "USD"), l.Money(1234, "JPY"),
			l.Count(1234567), l.Date(day), l.LocalDate(late, berlin), l.Stamp(late, berlin), l.Stamp(late, time.UTC),
			l.T("Totals by currency")}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tag, diff)
		}
	}
	// Exact at the extremes: no float anywhere.
	de, _ := ParseLocale("de-DE")
	if got, want := de.Money(-9223372036854775808, "EUR"), "-92.233.720.368.547.758,08"+nbsp+"€"; got != want {
		t.Errorf("MinInt64 EUR in de-DE: %q, want %q", got, want)
	}
}

func TestParseLocaleAndTimezone(t *testing.T) {
	for in, want := range map[string]string{"": "en-US", "de-DE": "de-DE", "de": "de-DE", "en-us": "en-US", "ja-JP": "ja-JP", "fr-FR": "fr-FR"} {
		l, err := ParseLocale(in)
		if err != nil || l.Tag() != want {
			t.Errorf("ParseLocale(%q) = %v, %v; want %s", in, l, err, want)
		}
	}
	for _, in := range []string{"de-CH", "pt-BR", "xx", "en_US!", "not a tag", strings.Repeat("a", 40)} {
		if _, err := ParseLocale(in); err == nil {
			t.Errorf("ParseLocale(%q) succeeded, want an error", in)
		}
	}
	for _, in := range []string{"", "UTC", "Europe/Berlin", "Asia/Tokyo", "America/New_York"} {
		if _, err := ParseTimezone(in); err != nil {
			t.Errorf("ParseTimezone(%q): %v", in, err)
		}
	}
	for _, in := range []string{"Local", "Mars/Olympus", "../etc/passwd", "CEST+2"} {
		if _, err := ParseTimezone(in); err == nil {
			t.Errorf("ParseTimezone(%q) succeeded, want an error", in)
		}
	}
}

func TestValidateRequestLocaleAndTimezone(t *testing.T) {
	p := Params{CustomerID: "cus_1", From: "2026-01-01", To: "2026-01-31", Locale: "tlh-KX", Timezone: "Mars/Olympus"}
	got := ValidateRequest(TypeOrderHistory, FormatPDF, p, 0)
	want := []FieldError{
		{Field: "params.locale", Message: "must be one of en-US, en-GB, de-DE, fr-FR, es-ES, ja-JP"},
		{Field: "params.timezone", Message: "must be an IANA time zone such as Europe/Berlin"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	p.Locale, p.Timezone = "de-DE", "Europe/Berlin"
	if errs := ValidateRequest(TypeOrderHistory, FormatPDF, p, 0); len(errs) != 0 {
		t.Errorf("valid locale and zone: %v", errs)
	}
}

func TestParamsBoundsInTimezone(t *testing.T) {
	p := Params{From: "2026-04-01", To: "2026-04-30", Timezone: "Europe/Berlin"}
	start, end, err := p.Bounds()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC); !start.Equal(want) {
		t.Errorf("start %v, want %v", start.UTC(), want)
	}
	if want := time.Date(2026, 4, 30, 22, 0, 0, 0, time.UTC); !end.Equal(want) {
		t.Errorf("end %v, want %v", end.UTC(), want)
	}
}

// localeDoc is the sample order history in a locale and zone, with one
// order placed at 23:30 UTC on 31 March: 1 April in Berlin and Tokyo.
func localeDoc(t *testing.T, locale, zone string) Document {
	t.Helper()
	rows := testOrders(40)
	rows[39].PlacedAt = time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC)
	doc := orderDoc(t, rows)
	doc.Header.Locale, doc.Header.Timezone = locale, zone
	return doc
}

// flat is pdftotext's output with no-break spaces as spaces and runs of
// spaces squeezed, so that a check does not depend on the layout.
func flat(s string) string {
	s = strings.ReplaceAll(s, nbsp, " ")
	return strings.Join(strings.Fields(s), " ")
}

func TestRenderPDFLocales(t *testing.T) {
	tests := []struct {
		locale, zone string
		want         []string
	}{
		{"de-DE", "Europe/Berlin", []string{
			"Bestellhistorie", "Kunde cus_42", "Zeitraum 01.01.2026 – 31.03.2026 (Europe/Berlin)",
			"Erstellt 01.04.2026 11:30 CEST (UTC+02:00)", "Datenstand 1.200",
			"Bestellung Aufgegeben Status Artikel Währung Summe Steuer Erstattet Versand / Spediteur",
			"Währung Bestellungen Stornierungen Mit Erstattung Brutto Erstattungen Netto Steuer",
			"ord_001039 01.04.2026", "Summen nach Währung", "Zusammenfassung", "Bezahlt", "Storniert",
			"Seite 1 von 2", "erstellt 01.04.2026 11:30 CEST",
		}},
		{"ja-JP", "Asia/Tokyo", []string{
			"注文履歴", "顧客 cus_42", "期間 2026/01/01 – 2026/03/31 (Asia/Tokyo)",
			"作成日時 2026/04/01 18:30 JST (UTC+09:00)", "データ位置 1,200",
			"ord_001039 2026/04/01", "通貨別合計", "概要", "支払済み", "ページ 1 /",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.locale, func(t *testing.T) {
			pdf, _ := renderPDFBytes(t, localeDoc(t, tt.locale, tt.zone), defaultChunkPages)
			text := flat(textOf(t, pdf))
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("the %s PDF lacks %q:\n%s", tt.locale, w, text)
				}
			}
			var totals Totals
			for _, o := range testOrders(40) {
				if err := totals.AddOrder(o); err != nil {
					t.Fatal(err)
				}
			}
			l, _ := ParseLocale(tt.locale)
			for _, cur := range totals.Currencies() {
				if m := flat(l.Money(totals.Of(cur).Net, cur)); !strings.Contains(text, m) {
					t.Errorf("the %s PDF lacks the %s net total %q", tt.locale, cur, m)
				}
				if m := flat(l.Money(totals.Of(cur).Tax, cur)); !strings.Contains(text, m) {
					t.Errorf("the %s PDF lacks the %s tax total %q", tt.locale, cur, m)
				}
			}
			if *update && tt.locale == "de-DE" {
				writeSamplePNG(t, pdf, filepath.Join("..", "..", "docs", "sample-report-de-DE"))
			}
		})
	}
}

// writeSamplePNG renders page 1 to prefix.png (go test -run
// TestRenderPDFLocales -update ./internal/report/).
func writeSamplePNG(t *testing.T, pdf []byte, prefix string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", path, prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
}

// TestRenderXLSXLocale: labels follow the locale, times are the zone's
// wall clock, and the number formats say what a format can: the date
// order and the currency symbol's place.
func TestRenderXLSXLocale(t *testing.T) {
	data, _ := renderXLSXBytes(t, localeDoc(t, "de-DE", "Europe/Berlin"))
	b := readXLSX(t, data)
	s := b.sheet(t, "Orders")
	var head []string
	for c := 1; c <= 5; c++ {
		head = append(head, s.cell(1, c).str())
	}
	if diff := cmp.Diff([]string{"Bestellung", "Kunde", "Händler", "Status", "Aufgegeben am (Europe/Berlin)"}, head); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	placed := s.cell(41, 5)
	wall := time.Date(2026, 4, 1, 1, 30, 0, 0, time.UTC) // 23:30 UTC is 01:30 CEST
	wantTime(t, "placed at", placed, &wall, "dd.mm.yyyy hh:mm:ss")
	total := s.cell(2, 11)
	if total.NumFmt != `#,##0.00 "€"` {
		t.Errorf("EUR amount format %q, want %q", total.NumFmt, `#,##0.00 "€"`)
	}
	sum := b.sheet(t, "Summary")
	meta := map[string]xlsxValue{}
	for r := 1; r <= 12; r++ {
		meta[sum.cell(r, 1).str()] = sum.cell(r, 2)
	}
	wantText(t, "title", sum.cell(1, 1), "Bestellhistorie")
	wantTime(t, "Von", meta["Von"], &testFrom, "dd.mm.yyyy")
	wantText(t, "Zeitzone", meta["Zeitzone"], "Europe/Berlin")
	gen := time.Date(2026, 4, 1, 11, 30, 0, 0, time.UTC)
	wantTime(t, "Erstellt am", meta["Erstellt am (Europe/Berlin)"], &gen, "dd.mm.yyyy hh:mm:ss")
}

// TestRenderPDFLocalesFit: no translated label is shortened with "…" in
// any supported locale (the sample data has no long client text).
func TestRenderPDFLocalesFit(t *testing.T) {
	for _, tag := range SupportedLocales() {
		l, err := ParseLocale(tag)
		if err != nil {
			t.Fatal(err)
		}
		// Every locale has its word for the tax column.
		if tax := l.T("Tax"); tax == "" || (tax == "Tax") != strings.HasPrefix(tag, "en") {
			t.Errorf("%s: the Tax label is %q", tag, tax)
		}
		for _, doc := range []Document{merchantDoc(t, testDays(20)), orderDoc(t, testOrders(30))} {
			doc.Header.Locale, doc.Header.Timezone = tag, "America/Argentina/Buenos_Aires"
			pdf, _ := renderPDFBytes(t, doc, defaultChunkPages)
			text := textOf(t, pdf)
			if !strings.Contains(text, l.T("Tax")) {
				t.Errorf("%s %s: no %q column", tag, doc.Type, l.T("Tax"))
			}
			for line := range strings.Lines(text) {
				if strings.Contains(line, "…") {
					t.Errorf("%s %s: a label is cut: %s", tag, doc.Type, strings.TrimSpace(line))
				}
			}
		}
	}
}
