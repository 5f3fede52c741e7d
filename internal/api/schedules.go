package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/schedule"
)

// ScheduleStore holds the report schedules.
type ScheduleStore interface {
	CreateSchedule(ctx context.Context, s schedule.Schedule, maxPerClient int) (schedule.Schedule, error)
	GetSchedule(ctx context.Context, clientID, id string) (schedule.Schedule, error)
	ListSchedules(ctx context.Context, clientID string, afterCreated time.Time, afterID string, limit int) ([]schedule.Schedule, error)
	UpdateSchedule(ctx context.Context, clientID, id string, change func(*schedule.Schedule) error) (schedule.Schedule, error)
	DeleteSchedule(ctx context.Context, clientID, id string) error
}

// Bounds of a schedule's text fields: far above any real spec or zone name.
const (
	maxCronLen     = 128
	maxTimezoneLen = 64
)

type createScheduleRequest struct {
	Cron     string            `json:"cron"`
	Timezone string            `json:"timezone"`
	Report   schedule.Template `json:"report"`
	Paused   bool              `json:"paused,omitempty"`
}

type patchScheduleRequest struct {
	Cron     *string            `json:"cron,omitempty"`
	Timezone *string            `json:"timezone,omitempty"`
	Report   *schedule.Template `json:"report,omitempty"`
	Paused   *bool              `json:"paused,omitempty"`
}

// validateSchedule checks a schedule as it would be stored. The report is
// checked as POST /v1/reports checks one, with its period resolved for a
// fire now, so a schedule that is accepted makes reports that are.
func validateSchedule(s schedule.Schedule, set Settings, now time.Time) []FieldError {
	var errs []FieldError
	add := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	var spec *schedule.Spec
	switch {
	case s.Cron == "":
		add("cron", "is required")
	case len(s.Cron) > maxCronLen:
		add("cron", "must be at most 128 characters")
	default:
		if sp, err := schedule.ParseSpec(s.Cron, set.MinScheduleInterval); err != nil {
			add("cron", err.Error())
		} else {
			spec = &sp
		}
	}
	loc := time.UTC
	switch {
	case s.Timezone == "":
		add("timezone", "is required")
	case len(s.Timezone) > maxTimezoneLen, s.Timezone == "Local":
		add("timezone", "must be an IANA time zone such as Europe/Berlin")
	default:
		l, err := time.LoadLocation(s.Timezone)
		if err != nil {
			add("timezone", "must be an IANA time zone such as Europe/Berlin")
		} else {
			loc = l
		}
	}
	if spec != nil && len(errs) == 0 && schedule.NextRun(schedule.Schedule{Cron: s.Cron, Timezone: s.Timezone}, now) == nil {
		add("cron", "never fires")
	}

	p := s.Report.Params
	if p.From != "" {
		add("report.params.from", "is not allowed in a schedule; name a period instead")
	}
	if p.To != "" {
		add("report.params.to", "is not allowed in a schedule; name a period instead")
	}
	period := p.Period
	switch {
	case period == "":
		add("report.params.period", "is required")
	case !period.Valid():
		add("report.params.period", "must be one of previous_month, previous_week, previous_day, month_to_date")
	}
	if !period.Valid() {
		period = schedule.PreviousDay // only to check the rest of the report
	}
	tmpl := s.Report
	tmpl.Params.Period = period
	params, err := tmpl.ReportParams(now, loc)
	if err != nil {
		add("report.params.period", err.Error())
		return errs
	}
	req := createReportRequest{Type: tmpl.Type, Format: tmpl.Format, Params: params, WebhookURL: tmpl.WebhookURL, Metadata: tmpl.Metadata}
	for _, fe := range req.validate(set) {
		field := "report." + fe.Field
		if fe.Field == "params.from" || fe.Field == "params.to" {
			field = "report.params.period"
		}
		if !slices.ContainsFunc(errs, func(e FieldError) bool { return e.Field == field }) {
			add(field, fe.Message)
		}
	}
	return errs
}

// scheduleError answers a store error: the per-client cap is a 409.
func scheduleError(w http.ResponseWriter, r *http.Request, d Deps, err error) {
	if errors.Is(err, schedule.ErrLimit) {
		writeProblem(w, problem(http.StatusConflict, "too-many-schedules", "Too many schedules",
			"This client has reached its limit of schedules. Delete one to create another."))
		return
	}
	writeError(w, r, d.Logger, err)
}

func handleCreateSchedule(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var req createScheduleRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		now := d.Now()
		s := schedule.Schedule{
			ID: ids.New(schedule.IDPrefix), ClientID: principalFrom(ctx).ClientID,
			Cron: strings.TrimSpace(req.Cron), Timezone: req.Timezone, Report: req.Report, Paused: req.Paused,
		}
		if errs := validateSchedule(s, d.Settings, now); len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		s.NextRunAt = schedule.NextRun(s, now)
		created, err := d.Schedules.CreateSchedule(ctx, s, d.Settings.MaxSchedules)
		if err != nil {
			scheduleError(w, r, d, err)
			return
		}
		w.Header().Set("Location", "/v1/schedules/"+created.ID)
		writeJSON(w, http.StatusCreated, created.ToResource())
	})
}

func handleListSchedules(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		q := r.URL.Query()
		var errs []FieldError
		limit, lerr := parseLimit(q.Get("limit"))
		if lerr != nil {
			errs = append(errs, *lerr)
		}
		afterCreated, afterID, cerr := decodeCursor(q.Get("cursor"), schedule.IDPrefix)
		if cerr != nil {
			errs = append(errs, FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		}
		if len(errs) > 0 {
			writeProblem(w, invalid(errs...))
			return
		}
		list, err := d.Schedules.ListSchedules(ctx, principalFrom(ctx).ClientID, afterCreated, afterID, limit+1)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, page(list, limit,
			func(s schedule.Schedule) (time.Time, string) { return s.CreatedAt, s.ID },
			schedule.Schedule.ToResource))
	})
}

func handleGetSchedule(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, schedule.IDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		s, err := d.Schedules.GetSchedule(ctx, principalFrom(ctx).ClientID, id)
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, s.ToResource())
	})
}

// handlePatchSchedule changes some of a schedule's fields. A new cron or
// timezone, or a resume, moves next_run_at to the first fire after now:
// fires that fell while the schedule was paused are not made up.
func handlePatchSchedule(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, schedule.IDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		var req patchScheduleRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		now := d.Now()
		updated, err := d.Schedules.UpdateSchedule(ctx, principalFrom(ctx).ClientID, id, func(s *schedule.Schedule) error {
			wasPaused, oldCron, oldZone := s.Paused, s.Cron, s.Timezone
			if req.Cron != nil {
				s.Cron = strings.TrimSpace(*req.Cron)
			}
			if req.Timezone != nil {
				s.Timezone = *req.Timezone
			}
			if req.Report != nil {
				s.Report = *req.Report
			}
			if req.Paused != nil {
				s.Paused = *req.Paused
			}
			if errs := validateSchedule(*s, d.Settings, now); len(errs) > 0 {
				return invalid(errs...)
			}
			if s.Paused || wasPaused || s.Cron != oldCron || s.Timezone != oldZone || s.NextRunAt == nil {
				s.NextRunAt = schedule.NextRun(*s, now)
			}
			return nil
		})
		if err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		writeJSON(w, http.StatusOK, updated.ToResource())
	})
}

func handleDeleteSchedule(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, ok := pathID(r, schedule.IDPrefix)
		if !ok {
			writeProblem(w, errNotFound)
			return
		}
		if err := d.Schedules.DeleteSchedule(ctx, principalFrom(ctx).ClientID, id); err != nil {
			writeError(w, r, d.Logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
