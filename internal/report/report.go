package report

import (
	"errors"
	"iter"
	"time"
)

// Type names a kind of report. Each type has its own params and rows.
type Type string

// The report types.
const (
	TypeOrderHistory  Type = "order_history"  // one customer's orders
	TypeMerchantSales Type = "merchant_sales" // one merchant's daily sales
)

// Format is the file format of a rendered report.
type Format string

// The file formats.
const (
	FormatPDF  Format = "pdf"
	FormatCSV  Format = "csv"
	FormatXLSX Format = "xlsx"
)

// ErrUnknownSubject means the customer or merchant a report names has no
// data at all; such a report fails at once instead of retrying.
var ErrUnknownSubject = errors.New("unknown report subject")

// ErrBehind means the read model has not yet reached the position a report
// asked for (min_position); the report waits and tries again.
var ErrBehind = errors.New("read model is behind the requested position")

// Params are the type-specific inputs of a report, as the client sent them.
// From and To are whole days, both inclusive, in Timezone (IANA, default
// UTC); Locale (BCP 47, default en-US) sets how the PDF and XLSX read.
type Params struct {
	CustomerID string `json:"customer_id,omitempty"`
	MerchantID string `json:"merchant_id,omitempty"`
	From       string `json:"from"`
	To         string `json:"to"`
	Locale     string `json:"locale,omitempty"`
	Timezone   string `json:"timezone,omitempty"`
}

// Header is what the report says about itself at the top of the document.
type Header struct {
	ReportID     string
	Title        string    // e.g. "Order history"
	ClientName   string    // the tenant the report is for
	SubjectLabel string    // "Customer" or "Merchant"
	SubjectID    string    // cus_42 or mer_7
	From, To     time.Time // calendar days, as midnight UTC
	GeneratedAt  time.Time
	Locale       string // BCP 47 tag; "" is DefaultLocale
	Timezone     string // IANA zone the days and times are in; "" is UTC
	DataPosition int64  // the event-log position the data was read at
}

// OrderRow is one order of the order_history report, in integer cents.
type OrderRow struct {
	OrderID        string
	CustomerID     string
	MerchantID     string
	Status         string // placed, paid, shipped, cancelled, refunded
	PlacedAt       time.Time
	PaidAt         *time.Time
	ShippedAt      *time.Time
	CancelledAt    *time.Time
	ItemCount      int
	Currency       string // ISO 4217
	TotalCents     int64
	TaxCents       int64 // the tax included in TotalCents
	RefundedCents  int64
	Carrier        string
	TrackingNumber string
}

// MerchantDayRow is one merchant-day-currency line of the merchant_sales report.
type MerchantDayRow struct {
	MerchantID    string
	Day           time.Time
	Currency      string
	Orders        int
	Cancellations int
	GrossCents    int64
	RefundsCents  int64
	NetCents      int64
	TaxCents      int64 // the tax included in GrossCents
}

// Document is a report's data, ready to render. Rows stream from the read
// model, so a renderer consumes Orders once, in order, and never collects
// them. MerchantDays, at most a row per day and currency of the period, may
// be ranged twice and must yield the same rows each time (the read model
// reads them from one snapshot): the PDF reads them once for its charts and
// summary, which open the document, and once for its table. RowCount is
// known up front so that "Page N of M" can be computed before the first row
// arrives.
type Document struct {
	Type         Type
	Header       Header
	RowCount     int
	Orders       iter.Seq2[OrderRow, error]       // set for TypeOrderHistory
	MerchantDays iter.Seq2[MerchantDayRow, error] // set for TypeMerchantSales
	// Progress, if set, is called after each row is rendered with the
	// number rendered so far. It is called on the rendering goroutine, once
	// per row, so it must be cheap (see internal/progress).
	Progress func(rowsDone int)

	// chartDays are MerchantDays without the Progress count, for the PDF's
	// first pass.
	chartDays iter.Seq2[MerchantDayRow, error]
}

// Stats describe a rendered file.
type Stats struct {
	Pages int // 0 for CSV and XLSX
	Rows  int
}

// ContentType returns the MIME type of a format.
func (f Format) ContentType() string {
	switch f {
	case FormatCSV:
		return "text/csv; charset=utf-8"
	case FormatXLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case FormatPDF:
	}
	return "application/pdf"
}

// Extension is a format's file name extension, without the dot.
func (f Format) Extension() string {
	switch f {
	case FormatCSV, FormatXLSX:
		return string(f)
	case FormatPDF:
	}
	return "pdf"
}
