// Package schedule is for reports that run on a timetable: it parses cron
// specs, computes fire times in a schedule's time zone (once per wall-clock
// time, across DST changes), resolves a period such as previous_month to
// the days a fire's report covers, and runs the loop that fires due
// schedules through a durable store.
package schedule
