package report

import (
	"fmt"
	"strconv"
	"strings"
)

// Money convention: every amount is an int64 count of the currency's minor
// unit (the "cents" of the row types), with the ISO 4217 exponent deciding
// where the decimal point goes: 2 for most currencies, 0 for JPY, KRW and
// friends, 3 for BHD, KWD and friends. Nothing ever becomes a float.
//
// The PDF shows amounts as "1,234.56" in columns that sit beside a currency
// column, and as "1,234.56 EUR" where no such column exists. The CSV uses
// plain decimal strings ("1234.56", "-0.50") next to a currency column.

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

// FormatAmount renders an amount with thousands separators and no currency
// code, e.g. "1,234.56" or "-1,234" (JPY): the PDF column form.
func FormatAmount(cents int64, currency string) string {
	neg, whole, frac := splitMinor(cents, currency)
	s := groupThousands(strconv.FormatUint(whole, 10))
	if frac != "" {
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}

// FormatMoney renders an amount with its currency code, e.g. "1,234.56 EUR".
func FormatMoney(cents int64, currency string) string {
	return FormatAmount(cents, currency) + " " + strings.ToUpper(currency)
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

// addCents adds two amounts and reports an overflow instead of wrapping.
func addCents(a, b int64) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, fmt.Errorf("add amounts %d and %d: overflows int64", a, b)
	}
	return s, nil
}
