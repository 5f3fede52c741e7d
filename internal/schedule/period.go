package schedule

import (
	"fmt"
	"time"
)

// Period names the days a scheduled report covers, relative to its fire.
type Period string

// The periods a schedule's report may ask for.
const (
	PreviousMonth Period = "previous_month" // the calendar month before the fire's
	PreviousWeek  Period = "previous_week"  // the ISO week (Monday to Sunday) before the fire's
	PreviousDay   Period = "previous_day"   // the day before the fire's
	MonthToDate   Period = "month_to_date"  // the 1st of the fire's month to the fire's day
)

// Valid reports whether p is one of the periods.
func (p Period) Valid() bool {
	switch p {
	case PreviousMonth, PreviousWeek, PreviousDay, MonthToDate:
		return true
	}
	return false
}

// Days resolves p for a fire at t in loc: the first and last day, both
// included, as YYYY-MM-DD. Days are the schedule's local days; reports
// count whole days, so these become the report's params.from and to.
func (p Period) Days(t time.Time, loc *time.Location) (from, to string, err error) {
	l := t.In(loc)
	// Noon keeps AddDate away from midnight, where a DST change could move the day.
	day := time.Date(l.Year(), l.Month(), l.Day(), 12, 0, 0, 0, time.UTC)
	first := day.AddDate(0, 0, 1-day.Day())
	var f, e time.Time
	switch p {
	case PreviousMonth:
		f, e = first.AddDate(0, -1, 0), first.AddDate(0, 0, -1)
	case PreviousWeek:
		sinceMonday := (int(day.Weekday()) + 6) % 7
		monday := day.AddDate(0, 0, -sinceMonday)
		f, e = monday.AddDate(0, 0, -7), monday.AddDate(0, 0, -1)
	case PreviousDay:
		f = day.AddDate(0, 0, -1)
		e = f
	case MonthToDate:
		f, e = first, day
	default:
		return "", "", fmt.Errorf("resolve period %q: unknown period", p)
	}
	return f.Format(time.DateOnly), e.Format(time.DateOnly), nil
}
