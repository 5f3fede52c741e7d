package report

import (
	"fmt"
	"math"
	"time"
)

// The merchant_sales PDF opens with a sales chart per currency. Its data is
// aggregated per day as the rows stream (daySales), so memory is bounded by
// the period's days, not by the rows; the days are then grouped into at
// most maxBars bars (chartBuckets) of a day, a week, a month or a year. All
// of it is integer arithmetic on minor units: the same rows draw the same
// chart, byte for byte.

// maxBars is the most bars a chart draws: a quarter by day.
const maxBars = 93

// bucketUnit is how many days one bar of a chart holds.
type bucketUnit int

const (
	unitDay bucketUnit = iota
	unitWeek
	unitMonth
	unitYear
)

// chartTitles are the catalog keys of each unit's chart title.
var chartTitles = map[bucketUnit]string{
	unitDay:   "Sales per day in %s",
	unitWeek:  "Sales per week in %s",
	unitMonth: "Sales per month in %s",
	unitYear:  "Sales per year in %s",
}

// chartBuckets splits the days from..to (inclusive, midnight UTC) into
// consecutive bars of one unit, the first starting on from. Weeks are
// seven days counted from the first day; months and years are calendar ones.
type chartBuckets struct {
	from  time.Time
	unit  bucketUnit
	count int
}

// newBuckets picks the smallest unit that draws from..to in at most
// maxBars bars.
func newBuckets(from, to time.Time, bars int) chartBuckets {
	from, to = from.UTC(), to.UTC()
	if to.Before(from) {
		to = from
	}
	for _, u := range []bucketUnit{unitDay, unitWeek, unitMonth} {
		b := chartBuckets{from: from, unit: u}
		if b.count = b.index(to) + 1; b.count <= bars {
			return b
		}
	}
	b := chartBuckets{from: from, unit: unitYear}
	b.count = b.index(to) + 1
	return b
}

// index is the bar of a day (negative before from).
func (b chartBuckets) index(day time.Time) int {
	day = day.UTC()
	switch b.unit {
	case unitWeek:
		return floorDiv(daysBetween(b.from, day), 7)
	case unitMonth:
		return (day.Year()-b.from.Year())*12 + int(day.Month()) - int(b.from.Month())
	case unitYear:
		return day.Year() - b.from.Year()
	case unitDay:
	}
	return daysBetween(b.from, day)
}

// start is the first day of bar i (the period's first day for the first).
func (b chartBuckets) start(i int) time.Time {
	switch b.unit {
	case unitWeek:
		return b.from.AddDate(0, 0, 7*i)
	case unitMonth:
		if i == 0 {
			return b.from
		}
		return time.Date(b.from.Year(), b.from.Month()+time.Month(i), 1, 0, 0, 0, 0, time.UTC)
	case unitYear:
		if i == 0 {
			return b.from
		}
		return time.Date(b.from.Year()+i, 1, 1, 0, 0, 0, 0, time.UTC)
	case unitDay:
	}
	return b.from.AddDate(0, 0, i)
}

func daysBetween(a, b time.Time) int {
	return int(b.Sub(a).Round(time.Hour).Hours()) / 24
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// daySales is one currency's gross and net per day, summed with the money
// rule's checked arithmetic.
type daySales map[time.Time]Amounts

// salesByCurrency aggregates merchant_sales rows per currency and day.
type salesByCurrency struct {
	days              map[string]daySales
	first, last       time.Time // the earliest and latest day seen
	haveDays          bool
	totals            Totals
	distinctDays      map[time.Time]struct{}
	orders, cancelled int64
}

func (s *salesByCurrency) add(d MerchantDayRow) error {
	if err := s.totals.AddDay(d); err != nil {
		return err
	}
	if s.days == nil {
		s.days, s.distinctDays = map[string]daySales{}, map[time.Time]struct{}{}
	}
	day := d.Day.UTC()
	ds := s.days[d.Currency]
	if ds == nil {
		ds = daySales{}
		s.days[d.Currency] = ds
	}
	sum, err := ds[day].Add(d.amounts())
	if err != nil {
		return fmt.Errorf("chart %s %s: %w", d.Currency, day.Format(dayLayout), err)
	}
	ds[day] = sum
	s.distinctDays[day] = struct{}{}
	s.orders += int64(d.Orders)
	s.cancelled += int64(d.Cancellations)
	if !s.haveDays || day.Before(s.first) {
		s.first = day
	}
	if !s.haveDays || day.After(s.last) {
		s.last = day
	}
	s.haveDays = true
	return nil
}

// bars groups one currency's days into the buckets.
func (s *salesByCurrency) bars(cur string, b chartBuckets) ([]Amounts, error) {
	out := make([]Amounts, b.count)
	for day, a := range s.days[cur] {
		i := b.index(day)
		if i < 0 || i >= len(out) {
			continue // outside the period: the read model never sends one
		}
		sum, err := out[i].Add(a)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", cur, err)
		}
		out[i] = sum
	}
	return out, nil
}

// niceAxis is the value axis of a chart whose tallest bar is top minor
// units: a step of 1, 2 or 5 times a power of ten, never less than one
// whole unit (unit minor units), and the number of steps (2 ≤ maxTicks)
// that reach top. An empty chart gets one step of one unit. A top beyond
// a tenth of int64 (no real sale) is one step of itself, so that the
// axis's end, step × ticks, always fits int64.
func niceAxis(top, unit int64, maxTicks int) (step int64, ticks int) {
	unit, maxTicks = max(unit, 1), max(maxTicks, 2)
	switch {
	case top <= 0:
		return unit, 1
	case top > math.MaxInt64/10:
		return top, 1
	}
	for step = unit; ; step *= 10 {
		for _, m := range []int64{1, 2, 5} {
			s := step * m
			if n := (top-1)/s + 1; n <= int64(maxTicks) {
				return s, int(n)
			}
		}
	}
}

// minorUnit is one whole unit of a currency in minor units (100 for EUR).
func minorUnit(cur string) int64 {
	u := int64(1)
	for range minorUnits(cur) {
		u *= 10
	}
	return u
}
