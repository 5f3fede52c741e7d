// Command measure renders a synthetic report of any size, to measure the
// renderer's time and memory under /usr/bin/time -v and to eyeball output:
//
//	go build -o /tmp/measure ./internal/report/internal/measure
//	/usr/bin/time -v /tmp/measure -rows 200000 -out /tmp/big.pdf
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"runtime/pprof"
	"time"

	"github.com/reportd/reportd/internal/report"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	rows := fs.Int("rows", 200000, "rows to render")
	typ := fs.String("type", string(report.TypeOrderHistory), "order_history or merchant_sales")
	format := fs.String("format", "pdf", "pdf, csv or xlsx")
	out := fs.String("out", "/tmp/measure.pdf", "output file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()

	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := report.Document{
		Type:     report.Type(*typ),
		RowCount: *rows,
		Header: report.Header{
			ReportID: "rep_01JQ7Z8K4M2N", Title: "Order history", ClientName: "Nordlicht Café GmbH",
			SubjectLabel: "Customer", SubjectID: "cus_42",
			From: from, To: from.AddDate(0, 3, -1),
			GeneratedAt:  time.Date(2026, 4, 1, 9, 30, 0, 0, time.UTC),
			DataPosition: 1200345,
		},
		Orders:       orders(*rows, from),
		MerchantDays: days(*rows, from),
	}
	if doc.Type == report.TypeMerchantSales {
		doc.Header.Title, doc.Header.SubjectLabel, doc.Header.SubjectID = "Merchant sales", "Merchant", "mer_7"
	}
	start := time.Now()
	st, err := report.Render(ctx, f, report.Format(*format), doc)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rows=%d pages=%d bytes=%d render=%s file=%s\n", st.Rows, st.Pages, fi.Size(), time.Since(start).Round(time.Millisecond), *out)
	return nil
}

var (
	statuses = []string{"placed", "paid", "shipped", "shipped", "shipped", "cancelled", "refunded"}
	carriers = []string{"DHL Express", "Pošta Slovenije", "Colissimo", "Royal Mail", "Yamato Transport", "Østlandet Kurér"}
	currency = []string{"EUR", "EUR", "EUR", "USD", "GBP", "JPY"}
)

func orders(n int, from time.Time) iter.Seq2[report.OrderRow, error] {
	return func(yield func(report.OrderRow, error) bool) {
		for i := range n {
			placed := from.Add(time.Duration(i%90*24)*time.Hour + time.Duration(i%1440)*time.Minute)
			cur := currency[i%len(currency)]
			total := int64(1999 + (i*7919)%250000)
			if cur == "JPY" {
				total = int64(500 + (i*131)%90000)
			}
			o := report.OrderRow{
				OrderID: fmt.Sprintf("ord_%08d", 10000+i), CustomerID: "cus_42", MerchantID: "mer_7",
				Status: statuses[i%len(statuses)], PlacedAt: placed, ItemCount: 1 + i%7,
				Currency: cur, TotalCents: total,
			}
			switch o.Status {
			case "shipped":
				s := placed.Add(36 * time.Hour)
				o.ShippedAt, o.Carrier, o.TrackingNumber = &s, carriers[i%len(carriers)], fmt.Sprintf("TRK%010d", i)
			case "refunded":
				o.RefundedCents = total / 2
			}
			if !yield(o, nil) {
				return
			}
		}
	}
}

func days(n int, from time.Time) iter.Seq2[report.MerchantDayRow, error] {
	return func(yield func(report.MerchantDayRow, error) bool) {
		for i := range n {
			cur := currency[i%3+2]
			gross := int64(150000 + (i*7919)%900000)
			refunds := gross / 20
			d := report.MerchantDayRow{
				MerchantID: "mer_7", Day: from.AddDate(0, 0, i/3), Currency: cur,
				Orders: 20 + i%40, Cancellations: i % 4, GrossCents: gross, RefundsCents: refunds, NetCents: gross - refunds,
			}
			if !yield(d, nil) {
				return
			}
		}
	}
}
