package report

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/language"
)

// Money convention: every amount is an int64 count of the currency's minor
// unit (the "cents" of the row types), with the ISO 4217 exponent deciding
// where the decimal point goes: 2 for most currencies, 0 for JPY, KRW and
// friends, 3 for BHD, KWD and friends. Nothing ever becomes a float.
//
// The PDF shows amounts in the report's locale (locale.go): "1,234.56" or
// "1.234,56" in columns that sit beside a currency column, and with the
// currency symbol ("€1,234.56", "1.234,56 €") where no such column exists.
// The CSV uses plain decimal strings ("1234.56", "-0.50") next to a
// currency column, whatever the locale.

// minorUnits returns the ISO 4217 exponent of a currency code.
func minorUnits(currency string) int {
	switch strings.ToUpper(currency) {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
		"RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF", "UYW":
		return 4
	}
	return 2
}

// splitMinor splits an amount into its sign, whole units and the zero-padded
// fraction digits. It works on the unsigned magnitude so that math.MinInt64
// cannot overflow.
func splitMinor(cents int64, currency string) (neg bool, whole uint64, frac string) {
	mag := uint64(cents) //nolint:gosec // two's complement on purpose: negated below, so math.MinInt64 keeps its magnitude
	if cents < 0 {
		neg = true
		mag = -mag
	}
	exp := minorUnits(currency)
	div := uint64(1)
	for range exp {
		div *= 10
	}
	whole = mag / div
	if exp > 0 {
		frac = fmt.Sprintf("%0*d", exp, mag%div)
	}
	return neg, whole, frac
}

// DecimalString renders an amount as a plain decimal string such as
// "1234.56", "-0.50" or "1234" (JPY): the CSV form.
func DecimalString(cents int64, currency string) string {
	neg, whole, frac := splitMinor(cents, currency)
	s := strconv.FormatUint(whole, 10)
	if frac != "" {
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}

// enUS is the default locale, of FormatAmount and FormatMoney.
var enUS = newLocale(language.AmericanEnglish)

// FormatAmount renders an amount with thousands separators and no currency
// code, e.g. "1,234.56" or "-1,234" (JPY): the PDF column form in en-US
// (Locale.Amount for the others).
func FormatAmount(cents int64, currency string) string {
	return enUS.Amount(cents, currency)
}

// FormatMoney renders an amount with its currency symbol as en-US does,
// e.g. "€1,234.56" or "-$0.50" (Locale.Money for the others).
func FormatMoney(cents int64, currency string) string {
	return enUS.Money(cents, currency)
}

// formatCount renders a count with thousands separators.
func formatCount(n int64) string {
	if n < 0 {
		return "-" + groupThousands(strconv.FormatUint(uint64(-n), 10))
	}
	return groupThousands(strconv.FormatInt(n, 10))
}

func groupThousands(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	lead := len(digits) % 3
	if lead > 0 {
		b.WriteString(digits[:lead])
	}
	for i := lead; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// ErrAmountOutOfRange means an amount, or a sum of amounts, breaks the
// money rules: a negative amount, refunds beyond the order's total, or a sum
// that does not fit int64. A report that meets it fails for good; the
// projector parks the event that caused it.
var ErrAmountOutOfRange = errors.New("amount out of range")

// AddCents adds two amounts and reports an overflow instead of wrapping.
func AddCents(a, b int64) (int64, error) {
	r := a + b // Go wraps signed overflow; the sign test below catches it
	if (a >= 0) == (b >= 0) && (r >= 0) != (a >= 0) {
		return 0, fmt.Errorf("add amounts %d and %d: overflows int64: %w", a, b, ErrAmountOutOfRange)
	}
	return r, nil
}

// Amounts is the money of one order or of a set of orders, in minor units.
// Net is always Gross - Refunds. Tax is the part of Gross that is tax, so
// 0 <= Tax <= Gross; it is not a fourth amount to add to the others.
type Amounts struct {
	Gross, Refunds, Net, Tax int64
}

// OrderAmounts is the one definition of money; every report and the
// projector use it (see "Money" in the README):
//
//   - an order's total and refunds are never negative, and its refunds never
//     exceed its total; anything else is an error wrapping ErrAmountOutOfRange;
//   - the total includes the order's tax, which is never negative nor more
//     than the total: gross is tax-inclusive and tax is never added on top;
//   - a cancelled order (cancelled_at set, whatever followed) is not a sale:
//     it contributes 0 gross, 0 refunds, 0 net and 0 tax, even if it was paid
//     or refunded before or after the cancellation;
//   - any other order contributes its total as gross, what was refunded of it
//     as refunds, the difference as net (0 when fully refunded) and its
//     tax_cents as tax;
//   - tax is the tax of the gross, and only of the gross: refunds are
//     tax-inclusive amounts and are not split into tax and the rest (an
//     OrderRefunded carries no tax), so a refund leaves tax as it is and net
//     is not "net of tax".
func OrderAmounts(o OrderRow) (Amounts, error) {
	if o.TotalCents < 0 || o.RefundedCents < 0 || o.RefundedCents > o.TotalCents {
		return Amounts{}, fmt.Errorf("order %s: total %d, refunded %d: refunds must be between 0 and the total: %w",
			o.OrderID, o.TotalCents, o.RefundedCents, ErrAmountOutOfRange)
	}
	if o.TaxCents < 0 || o.TaxCents > o.TotalCents {
		return Amounts{}, fmt.Errorf("order %s: total %d, tax %d: the tax must be between 0 and the total it is part of: %w",
			o.OrderID, o.TotalCents, o.TaxCents, ErrAmountOutOfRange)
	}
	if o.CancelledAt != nil {
		return Amounts{}, nil
	}
	return Amounts{Gross: o.TotalCents, Refunds: o.RefundedCents, Net: o.TotalCents - o.RefundedCents, Tax: o.TaxCents}, nil
}

// Add returns a + b, or an error wrapping ErrAmountOutOfRange if a sum does
// not fit int64.
func (a Amounts) Add(b Amounts) (Amounts, error) {
	var out Amounts
	var err error
	if out.Gross, err = AddCents(a.Gross, b.Gross); err != nil {
		return a, fmt.Errorf("gross: %w", err)
	}
	if out.Refunds, err = AddCents(a.Refunds, b.Refunds); err != nil {
		return a, fmt.Errorf("refunds: %w", err)
	}
	if out.Net, err = AddCents(a.Net, b.Net); err != nil {
		return a, fmt.Errorf("net: %w", err)
	}
	if out.Tax, err = AddCents(a.Tax, b.Tax); err != nil {
		return a, fmt.Errorf("tax: %w", err)
	}
	return out, nil
}

// CurrencyTotal is what a report's rows add up to in one currency.
type CurrencyTotal struct {
	Rows          int64 // rows added (orders, or merchant days)
	Orders        int64
	Cancellations int64
	WithRefund    int64 // orders with any refund (order rows only)
	Amounts
}

// Totals adds up a report's rows per currency with checked arithmetic: the
// totals of both report types, as the PDF prints them. Amounts in different
// currencies never add up.
type Totals struct {
	byCur map[string]*CurrencyTotal
}

func (t *Totals) of(cur string) *CurrencyTotal {
	if t.byCur == nil {
		t.byCur = make(map[string]*CurrencyTotal)
	}
	c := t.byCur[cur]
	if c == nil {
		c = &CurrencyTotal{}
		t.byCur[cur] = c
	}
	return c
}

// AddOrder adds one order_history row, valued by OrderAmounts.
func (t *Totals) AddOrder(o OrderRow) error {
	a, err := OrderAmounts(o)
	if err != nil {
		return err
	}
	c := t.of(o.Currency)
	sum, err := c.Amounts.Add(a)
	if err != nil {
		return fmt.Errorf("total %s: %w", o.Currency, err)
	}
	c.Amounts = sum
	c.Rows++
	c.Orders++
	if o.CancelledAt != nil {
		c.Cancellations++
	}
	if o.RefundedCents != 0 {
		c.WithRefund++
	}
	return nil
}

// AddDay adds one merchant_sales row, whose amounts the projector derived
// with OrderAmounts.
func (t *Totals) AddDay(d MerchantDayRow) error {
	c := t.of(d.Currency)
	sum, err := c.Amounts.Add(d.amounts())
	if err != nil {
		return fmt.Errorf("total %s: %w", d.Currency, err)
	}
	c.Amounts = sum
	c.Rows++
	c.Orders += int64(d.Orders)
	c.Cancellations += int64(d.Cancellations)
	return nil
}

// amounts are the row's sums as Amounts.
func (d MerchantDayRow) amounts() Amounts {
	return Amounts{Gross: d.GrossCents, Refunds: d.RefundsCents, Net: d.NetCents, Tax: d.TaxCents}
}

// Currencies lists the currencies added so far, sorted.
func (t *Totals) Currencies() []string {
	return slices.Sorted(maps.Keys(t.byCur))
}

// Of returns the total of one currency (zero if none was added).
func (t *Totals) Of(cur string) CurrencyTotal {
	if c := t.byCur[cur]; c != nil {
		return *c
	}
	return CurrencyTotal{}
}
