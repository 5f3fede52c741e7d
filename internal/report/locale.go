package report

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones even where the host has no zoneinfo (distroless images)

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
)

// Locales and time zones.
//
// Numbers (grouping, decimal and minus signs), currency symbols and labels
// come from CLDR through golang.org/x/text. Two things x/text does not
// offer are small tables below, taken from CLDR 44 (common/main/*.xml):
// where a currency symbol goes (x/text has no currency patterns for
// formatting), and the numeric date pattern (x/text has no date
// formatting at all). Amounts stay exact: the whole units go through
// x/text as an integer and the fraction digits are appended as they are.

// DefaultLocale and DefaultTimezone apply when params leave them out.
const (
	DefaultLocale   = "en-US"
	DefaultTimezone = "UTC"
)

// localeData is what CLDR says about one supported locale beyond x/text.
type localeData struct {
	// dateLayout is CLDR's numeric date (the yMd skeleton, with a
	// four-digit year) as a Go layout.
	dateLayout string
	// currencyAfter: the CLDR standard currency pattern is "#,##0.00 ¤"
	// (symbol after, a no-break space between) rather than "¤#,##0.00".
	currencyAfter bool
}

// supportedLocales are the locales a report can be rendered in, in the
// order of localeTags.
var supportedLocales = map[string]localeData{
	"en-US": {dateLayout: "1/2/2006"},                        // yMd "M/d/y"
	"en-GB": {dateLayout: "02/01/2006"},                      // yMd "dd/MM/y"
	"de-DE": {dateLayout: "02.01.2006", currencyAfter: true}, // yMd "d.M.y", medium "dd.MM.y"
	"fr-FR": {dateLayout: "02/01/2006", currencyAfter: true}, // yMd "dd/MM/y"
	"es-ES": {dateLayout: "2/1/2006", currencyAfter: true},   // yMd "d/M/y"
	"ja-JP": {dateLayout: "2006/01/02"},                      // yMd "y/MM/dd"
}

var localeTags = []language.Tag{
	language.AmericanEnglish, language.BritishEnglish, language.MustParse("de-DE"),
	language.MustParse("fr-FR"), language.MustParse("es-ES"), language.MustParse("ja-JP"),
}

var localeMatcher = language.NewMatcher(localeTags)

// maxLocaleLen and maxTimezoneLen bound what is parsed at all.
const (
	maxLocaleLen   = 35
	maxTimezoneLen = 64
)

// SupportedLocales lists the locale tags a report accepts.
func SupportedLocales() []string {
	out := make([]string, len(localeTags))
	for i, t := range localeTags {
		out[i] = t.String()
	}
	return out
}

// Locale formats numbers, money, dates and labels for one supported
// locale. The zero value is not usable; get one from ParseLocale.
type Locale struct {
	tag     string
	data    localeData
	p       *message.Printer
	decimal string // CLDR decimal separator
	minus   string // CLDR minus sign
}

// ParseLocale returns the locale a BCP 47 tag names: "" is DefaultLocale;
// a tag that is not, or does not exactly match, a supported locale is an
// error. Matching is CLDR's (language.Matcher), so "de" and "en-us" match,
// but "de-CH" does not: it would be rendered with another region's rules.
func ParseLocale(s string) (*Locale, error) {
	if s == "" {
		s = DefaultLocale
	}
	if len(s) > maxLocaleLen {
		return nil, errors.New("locale tag is too long")
	}
	tag, err := language.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parse locale %q: %w", s, err)
	}
	_, i, conf := localeMatcher.Match(tag)
	if conf != language.Exact {
		return nil, fmt.Errorf("locale %q is not supported", s)
	}
	return newLocale(localeTags[i]), nil
}

func newLocale(tag language.Tag) *Locale {
	l := &Locale{tag: tag.String(), data: supportedLocales[tag.String()]}
	l.p = message.NewPrinter(tag, message.Catalog(labels))
	// x/text keeps the symbols to itself; read them off formatted numbers.
	l.decimal = strings.Trim(l.p.Sprint(number.Decimal(1.5, number.Scale(1))), "15")
	l.minus = strings.TrimSuffix(l.p.Sprint(number.Decimal(-1)), "1")
	return l
}

// Tag is the locale's canonical BCP 47 tag, e.g. "de-DE".
func (l *Locale) Tag() string { return l.tag }

// ParseTimezone returns the IANA time zone s names; "" is UTC. "Local"
// is refused: it would depend on the host.
func ParseTimezone(s string) (*time.Location, error) {
	if s == "" {
		return time.UTC, nil
	}
	if len(s) > maxTimezoneLen || s == "Local" {
		return nil, fmt.Errorf("time zone %q is not an IANA zone name", s)
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q: %w", s, err)
	}
	return loc, nil
}

// T translates a label; a key the catalog lacks prints as itself.
func (l *Locale) T(key string, args ...any) string {
	return l.p.Sprintf(key, args...)
}

// Count renders a count with the locale's grouping, e.g. "1.234".
func (l *Locale) Count(n int64) string {
	return l.p.Sprint(number.Decimal(n))
}

// Amount renders an amount without currency, e.g. "1.234,56" (de-DE),
// exactly: never through a float.
func (l *Locale) Amount(cents int64, cur string) string {
	neg, whole, frac := splitMinor(cents, cur)
	s := l.p.Sprint(number.Decimal(whole))
	if frac != "" {
		s += l.decimal + frac
	}
	if neg {
		s = l.minus + s
	}
	return s
}

// Money renders an amount with the locale's currency symbol where CLDR
// puts it: "€1,234.56" (en-US), "1.234,56 €" (de-DE). A code x/text does
// not know is shown as the code.
func (l *Locale) Money(cents int64, cur string) string {
	return l.withSymbol(l.Amount(cents, cur), cur)
}

// MoneyUnits renders whole units of a currency with its symbol and no
// fraction, "€4,000" or "4.000 €": a chart's axis.
func (l *Locale) MoneyUnits(units int64, cur string) string {
	s := l.p.Sprint(number.Decimal(units))
	if units < 0 {
		s = l.minus + l.p.Sprint(number.Decimal(-units))
	}
	return l.withSymbol(s, cur)
}

// withSymbol places the currency symbol where CLDR puts it.
func (l *Locale) withSymbol(amount, cur string) string {
	sym := l.Symbol(cur)
	if l.data.currencyAfter {
		return amount + "\u00a0" + sym
	}
	if rest, ok := strings.CutPrefix(amount, l.minus); ok {
		return l.minus + sym + rest
	}
	return sym + amount
}

// Symbol is CLDR's currency symbol in this locale, e.g. "€", "US$" or
// "￥"; the code itself for a currency x/text does not know.
func (l *Locale) Symbol(cur string) string {
	u, err := currency.ParseISO(cur)
	if err != nil {
		return cur
	}
	return l.p.Sprint(currency.Symbol(u))
}

// Date renders a calendar day, e.g. "31.03.2026" (de-DE). Days are kept as
// midnight UTC, so t's UTC date is the day.
func (l *Locale) Date(t time.Time) string {
	return t.UTC().Format(l.data.dateLayout)
}

// LocalDate renders the day an instant falls on in loc.
func (l *Locale) LocalDate(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(l.data.dateLayout)
}

// Stamp renders an instant in loc with the zone's abbreviation and, where
// that is not UTC, its offset: "01.04.2026 01:30 CEST (UTC+02:00)". Times
// are 24-hour in every supported locale (CLDR's Hm skeleton).
func (l *Locale) Stamp(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	s := t.Format(l.data.dateLayout) + " " + t.Format("15:04")
	name, off := t.Zone()
	if off == 0 && (name == "UTC" || name == "GMT") {
		return s + " UTC"
	}
	if name == "" || name[0] == '+' || name[0] == '-' {
		return s + " UTC" + t.Format("-07:00")
	}
	return s + " " + name + " (UTC" + t.Format("-07:00") + ")"
}

// Label translates text that may come from a client (a header title):
// only a catalog key is translated, and it is never formatted, so a '%'
// in client text prints as itself.
func (l *Locale) Label(s string) string {
	if _, ok := translations[s]; ok {
		return l.T(s)
	}
	return s
}

// localeAndZone parses the header's locale and time zone.
func (h Header) localeAndZone() (*Locale, *time.Location, error) {
	loc, err := ParseLocale(h.Locale)
	if err != nil {
		return nil, nil, err
	}
	tz, err := ParseTimezone(h.Timezone)
	if err != nil {
		return nil, nil, err
	}
	return loc, tz, nil
}

// xlsxDateLayout turns a Go date layout into a spreadsheet format code.
var xlsxDateLayout = strings.NewReplacer("2006", "yyyy", "01", "mm", "02", "dd", "1", "m", "2", "d")

// xlsxDate is the locale's date as a spreadsheet format code, e.g.
// "dd.mm.yyyy" (de-DE).
func (l *Locale) xlsxDate() string { return xlsxDateLayout.Replace(l.data.dateLayout) }
