package schedule

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/report"
)

// IDPrefix starts every schedule id: sch_ and 26 base32 characters.
const IDPrefix = "sch"

// ErrLimit means the client already has its maximum number of schedules.
var ErrLimit = errors.New("too many schedules")

// Template is the report each fire creates: a report request whose params
// name a period instead of from and to.
type Template struct {
	Type       report.Type     `json:"type"`
	Format     report.Format   `json:"format"`
	Params     TemplateParams  `json:"params"`
	WebhookURL *string         `json:"webhook_url,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
}

// TemplateParams are a report's params with a period for from..to.
type TemplateParams struct {
	CustomerID string `json:"customer_id,omitempty"`
	MerchantID string `json:"merchant_id,omitempty"`
	Period     Period `json:"period"`
	Locale     string `json:"locale,omitempty"`
	// Timezone is the zone of the report's days; "" is the schedule's own
	// zone, the one its period was resolved in.
	Timezone string `json:"timezone,omitempty"`
	// From and To are decoded only so that validation can say to use
	// period instead; a valid template never has them.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// ReportParams are the params of the report for a fire at t in loc.
func (t Template) ReportParams(at time.Time, loc *time.Location) (report.Params, error) {
	from, to, err := t.Params.Period.Days(at, loc)
	if err != nil {
		return report.Params{}, err
	}
	zone := t.Params.Timezone
	if zone == "" {
		zone = loc.String()
	}
	return report.Params{CustomerID: t.Params.CustomerID, MerchantID: t.Params.MerchantID, From: from, To: to,
		Locale: t.Params.Locale, Timezone: zone}, nil
}

// Schedule is one client's timetable for a report.
type Schedule struct {
	ID       string
	ClientID string
	Cron     string
	Timezone string
	Report   Template
	Paused   bool
	// NextRunAt is the next fire; nil while paused or when the spec never
	// fires again.
	NextRunAt    *time.Time
	LastRunAt    *time.Time // the scheduled time of the newest fire
	LastReportID string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Resource is the public JSON shape of a schedule.
type Resource struct {
	ID           string     `json:"id"`
	Object       string     `json:"object"`
	Cron         string     `json:"cron"`
	Timezone     string     `json:"timezone"`
	Report       Template   `json:"report"`
	Paused       bool       `json:"paused"`
	NextRunAt    *time.Time `json:"next_run_at"`
	LastRunAt    *time.Time `json:"last_run_at"`
	LastReportID *string    `json:"last_report_id"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// ToResource builds the public shape.
func (s Schedule) ToResource() Resource {
	res := Resource{
		ID: s.ID, Object: "schedule", Cron: s.Cron, Timezone: s.Timezone, Report: s.Report, Paused: s.Paused,
		NextRunAt: s.NextRunAt, LastRunAt: s.LastRunAt, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if s.LastReportID != "" {
		res.LastReportID = &s.LastReportID
	}
	return res
}

// NextRun is when s fires next after now, or nil when it is paused or its
// spec never fires again. The spec and zone must have been validated.
func NextRun(s Schedule, now time.Time) *time.Time {
	if s.Paused {
		return nil
	}
	spec, err := ParseSpec(s.Cron, 0)
	if err != nil {
		return nil
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return nil
	}
	// @every counts from now: its first tick is one interval away.
	next := spec.Next(now, loc, now.Add(spec.Every()).Truncate(time.Second))
	if next.IsZero() {
		return nil
	}
	return &next
}

// Fire is what one fire of a schedule does.
type Fire struct {
	// ScheduledFor is the fire time the report is for: the newest one due,
	// so fires missed while no worker ran are made up once.
	ScheduledFor time.Time
	// NextRunAt is the next fire strictly after now; zero when there is none.
	NextRunAt time.Time
	// Report is the report to create, or nil when the schedule's template no
	// longer makes a valid report (Problem says why); the fire is skipped.
	Report  *domain.NewReport
	Problem string
}

// Plan decides a due schedule's fire at now. maxRange bounds the period as
// it does for POST /v1/reports.
func Plan(s Schedule, now time.Time, maxRange time.Duration) Fire {
	spec, err := ParseSpec(s.Cron, 0)
	if err != nil {
		return Fire{ScheduledFor: now, Problem: "cron: " + err.Error()}
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return Fire{ScheduledFor: now, Problem: "timezone: " + err.Error()}
	}
	due := now
	if s.NextRunAt != nil {
		due = *s.NextRunAt
	}
	at := spec.Latest(due, now, loc)
	f := Fire{ScheduledFor: at, NextRunAt: spec.Next(now, loc, due)}
	params, err := s.Report.ReportParams(at, loc)
	if err != nil {
		f.Problem = err.Error()
		return f
	}
	if errs := report.ValidateRequest(s.Report.Type, s.Report.Format, params, maxRange); len(errs) > 0 {
		f.Problem = errs[0].Field + " " + errs[0].Message
		return f
	}
	hook := ""
	if s.Report.WebhookURL != nil {
		hook = *s.Report.WebhookURL
	}
	f.Report = &domain.NewReport{
		ID: ids.New("rep"), ClientID: s.ClientID, Type: s.Report.Type, Format: s.Report.Format, Params: params,
		Metadata: s.Report.Metadata, WebhookURL: hook, ScheduleID: s.ID, ScheduledFor: &at,
	}
	return f
}
