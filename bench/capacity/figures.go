package capacity

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Figures is everything one capacity measurement produced: the input of
// docs/capacity.md, saved as bench/capacity.json so the document can be
// regenerated (and checked) without measuring again.
type Figures struct {
	Date     time.Time `json:"date"`
	Took     string    `json:"took"`     // wall time of the measurement
	Command  string    `json:"command"`  // the exact command that measured it
	Cores    int       `json:"cores"`    // nproc of the machine
	LoadAvg  string    `json:"load_avg"` // /proc/loadavg at the start: other work on the machine
	Go       string    `json:"go"`
	Workload Workload  `json:"workload"`

	PerReport Costs `json:"per_report"` // one 200-order PDF, submit to verified webhook, one worker
	PerEvent  Costs `json:"per_event"`  // one order event, POST to projected, one worker
	// IdlePerSecond is what the api and one worker cost per second with no
	// work at all (asynq polling, heartbeats, sweepers): already inside the
	// per-unit figures above, shown so that small runs can be judged.
	IdlePerSecond Costs `json:"idle_per_second"`

	// RedisCeiling is redis-benchmark's rate on the same private Redis.
	RedisCeiling Ceiling `json:"redis_ceiling"`
	// EventLogBytes is order_events' size (heap, indexes, TOAST) per event;
	// DatabaseBytes is the whole database's growth per event (log and read model).
	EventLogBytes float64 `json:"event_log_bytes_per_event"`
	DatabaseBytes float64 `json:"database_bytes_per_event"`
	// ProjectedPerSecond is the events phase's rate from the first POST to
	// every projection caught up, with one worker's projector.
	ProjectedPerSecond float64 `json:"projected_events_per_second"`
	// EventPassSeconds is how long the events phase took (its counters'
	// interval); the report passes' is their Run.Seconds.
	EventPassSeconds float64 `json:"event_pass_seconds"`

	// Scaling is the same report workload with one worker process, then two.
	Scaling []Run `json:"scaling"`
}

// Workload is the fixed work the figures are divided by.
type Workload struct {
	Reports           int     `json:"reports"`           // per scaling run
	OrdersPerReport   int     `json:"orders_per_report"` // rows in each PDF
	Format            string  `json:"format"`
	Events            int     `json:"events"`
	EventBatch        int     `json:"event_batch"` // events per POST /v1/order-events
	WorkerConcurrency int     `json:"worker_concurrency"`
	IdleSeconds       float64 `json:"idle_seconds"`
}

// Costs is what a unit of work (a report, an event, or a second of idling)
// cost each component.
type Costs struct {
	CPUms CPU `json:"cpu_ms"`
	// RedisCommands sums INFO commandstats calls of a private Redis, so it
	// counts the commands asynq's Lua scripts run as well as the scripts.
	RedisCommands      float64            `json:"redis_commands"`
	RedisByCommand     map[string]float64 `json:"redis_by_command,omitempty"`
	PostgresStatements float64            `json:"postgres_statements"`   // pg_stat_statements calls of the reportd role
	PostgresCommits    float64            `json:"postgres_commits"`      // pg_stat_database xact_commit
	WALBytes           float64            `json:"wal_bytes"`             // pg_wal_lsn_diff of pg_current_wal_lsn()
	S3Requests         map[string]float64 `json:"s3_requests,omitempty"` // by HTTP method, counted by a proxy
	S3BytesUp          float64            `json:"s3_bytes_up"`           // request bodies
	S3BytesDown        float64            `json:"s3_bytes_down"`         // response bodies
}

// CPU is CPU-ms (user + system, from /proc/<pid>/stat) per component.
type CPU struct {
	API      float64 `json:"api"`
	Worker   float64 `json:"worker"`
	Postgres float64 `json:"postgres"` // the postmaster and all its backends
	Redis    float64 `json:"redis"`
	S3       float64 `json:"s3"`       // the local S3 gateway (versitygw); a hosted S3 costs you none
	LoadGen  float64 `json:"load_gen"` // the harness: clients, webhook receiver, S3 proxy
}

// Deployed is the CPU a deployment runs itself: the api, the worker,
// Postgres and Redis (S3 is a service; the load generator is the clients).
func (c CPU) Deployed() float64 { return c.API + c.Worker + c.Postgres + c.Redis }

// All is every measured process on the benchmark machine.
func (c CPU) All() float64 { return c.Deployed() + c.S3 + c.LoadGen }

// S3Total is the number of S3 requests of every method.
func (c Costs) S3Total() float64 {
	var n float64
	for _, v := range c.S3Requests {
		n += v
	}
	return n
}

// LessIdle is c without the idle cost of the seconds each unit's pass
// lasted: what one more unit costs once the fixed per-process background
// (polling, heartbeats, sweeps) is taken out. Nothing goes below zero.
func (c Costs) LessIdle(idle Costs, secondsPerUnit float64) Costs {
	sub := func(x, y float64) float64 { return max(0, x-y*secondsPerUnit) }
	out := Costs{
		CPUms: CPU{API: sub(c.CPUms.API, idle.CPUms.API), Worker: sub(c.CPUms.Worker, idle.CPUms.Worker),
			Postgres: sub(c.CPUms.Postgres, idle.CPUms.Postgres), Redis: sub(c.CPUms.Redis, idle.CPUms.Redis),
			S3: sub(c.CPUms.S3, idle.CPUms.S3), LoadGen: sub(c.CPUms.LoadGen, idle.CPUms.LoadGen)},
		PostgresStatements: sub(c.PostgresStatements, idle.PostgresStatements),
		PostgresCommits:    sub(c.PostgresCommits, idle.PostgresCommits),
		WALBytes:           sub(c.WALBytes, idle.WALBytes),
		S3BytesUp:          sub(c.S3BytesUp, idle.S3BytesUp),
		S3BytesDown:        sub(c.S3BytesDown, idle.S3BytesDown),
	}
	if c.RedisByCommand != nil {
		out.RedisByCommand = map[string]float64{}
		for k, v := range c.RedisByCommand {
			if x := sub(v, idle.RedisByCommand[k]); x > 0 {
				out.RedisByCommand[k] = x
				out.RedisCommands += x
			}
		}
	} else {
		out.RedisCommands = sub(c.RedisCommands, idle.RedisCommands)
	}
	if c.S3Requests != nil {
		out.S3Requests = map[string]float64{}
		for k, v := range c.S3Requests {
			if x := sub(v, idle.S3Requests[k]); x > 0 {
				out.S3Requests[k] = x
			}
		}
	}
	return out
}

// Marginal is the per-report and per-event costs less idle, which the
// plans use. Without a one-worker pass (or events) the gross figures stand.
func (f Figures) Marginal() (report, event Costs) {
	report, event = f.PerReport, f.PerEvent
	for _, r := range f.Scaling {
		if r.Workers == 1 && r.Reports > 0 {
			report = f.PerReport.LessIdle(f.IdlePerSecond, r.Seconds/float64(r.Reports))
		}
	}
	secs := f.EventPassSeconds
	if secs == 0 && f.ProjectedPerSecond > 0 {
		secs = float64(f.Workload.Events) / f.ProjectedPerSecond // figures saved before EventPassSeconds existed
	}
	if f.Workload.Events > 0 {
		event = f.PerEvent.LessIdle(f.IdlePerSecond, secs/float64(f.Workload.Events))
	}
	return report, event
}

// Ceiling is a rate measured by a stock tool, with its command.
type Ceiling struct {
	Command   string  `json:"command"`
	OpsPerSec float64 `json:"ops_per_second"`
}

// Run is one end-to-end pass of the report workload.
type Run struct {
	Workers   int     `json:"workers"`
	Reports   int     `json:"reports"`
	Seconds   float64 `json:"seconds"` // first submit to last webhook
	PerSecond float64 `json:"reports_per_second"`
	// CPUms is every measured process's CPU per report during the pass.
	CPUms float64 `json:"cpu_ms_per_report"`
	// ForeignCores is the CPU other work on the machine took meanwhile
	// (/proc/stat busy minus every measured process), in cores.
	ForeignCores float64 `json:"foreign_cores"`
}

// Load reads figures saved by Save.
func Load(path string) (Figures, error) {
	var f Figures
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("read capacity figures: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("decode capacity figures %s: %w", path, err)
	}
	return f, nil
}

// Save writes the figures as indented JSON.
func Save(path string, f Figures) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode capacity figures: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil { //nolint:gosec // a world-readable file of the repository
		return fmt.Errorf("write capacity figures: %w", err)
	}
	return nil
}
