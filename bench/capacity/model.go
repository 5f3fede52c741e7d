package capacity

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Assumptions are the planning rules that are choices, not measurements.
// Each is printed in docs/capacity.md next to the figures it shapes.
type Assumptions struct {
	// Utilisation is how busy a planned core may be: the rest is headroom
	// for bursts, a lost host's share and GC.
	Utilisation float64
	// RedisBudget is the share of one core a Redis main thread may use
	// (Redis runs commands on one thread; past about half of it latency grows).
	RedisBudget float64
	// HostCores is the size of one api or worker host.
	HostCores int
	// PostgresClasses are the primary sizes (vCPU) on offer, smallest first.
	PostgresClasses []int
	// PartitionRows is the most rows one order_events partition should
	// hold, so vacuum, index builds and retention (DROP PARTITION) stay cheap.
	PartitionRows float64
	// RetentionDays is how long the event log is kept.
	RetentionDays int
	// S3PrefixPUTs is AWS's published request rate per prefix for PUT, COPY,
	// POST and DELETE (3,500/s; GET and HEAD: 5,500/s); reportd writes one
	// prefix per client (reports/{client_id}/).
	S3PrefixPUTs float64
	// MaxQueueShards is REDIS_QUEUE_SHARDS's upper bound.
	MaxQueueShards int
}

// DefaultAssumptions are the rules docs/capacity.md is generated with.
func DefaultAssumptions() Assumptions {
	return Assumptions{
		Utilisation:     0.6,
		RedisBudget:     0.5,
		HostCores:       8,
		PostgresClasses: []int{2, 4, 8, 16, 32, 64, 96, 128},
		PartitionRows:   1e9,
		RetentionDays:   90,
		S3PrefixPUTs:    3500,
		MaxQueueShards:  64,
	}
}

// Step is one line of arithmetic: the formula with its numbers filled in,
// and its result. The document prints Shown, so what it shows is what was
// computed.
type Step struct {
	Shown string
	Value float64
}

func (s Step) String() string { return s.Shown + " = " + Num(s.Value) }

// Num prints a figure with three significant digits, grouped thousands.
func Num(v float64) string {
	if v != 0 && math.Abs(v) < 100 { // round first, so 0.9999 prints as 1.00, not 1
		v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	}
	switch a := math.Abs(v); {
	case v == 0:
		return "0"
	case a >= 100:
		return group(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func group(digits string) string {
	neg := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	var b strings.Builder
	for i, r := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// cores is rate × CPU-ms per unit ÷ 1000 ÷ utilisation.
func cores(rate, cpuMS, util float64) Step {
	return Step{
		Shown: fmt.Sprintf("%s/s × %s CPU-ms ÷ 1000 ÷ %s", Num(rate), Num(cpuMS), Num(util)),
		Value: rate * cpuMS / 1000 / util,
	}
}

// perSecond is rate × amount per unit (÷ div, for unit changes).
func perSecond(rate, each, div float64, unit string) Step {
	shown := fmt.Sprintf("%s/s × %s %s", Num(rate), Num(each), unit)
	if div != 1 {
		shown += " ÷ " + group(strconv.FormatFloat(div, 'f', 0, 64))
	}
	return Step{Shown: shown, Value: rate * each / div}
}

func ceilInt(v float64) int { return int(math.Ceil(v - 1e-9)) }

// ReportPlan sizes a deployment for a steady rate of reports.
type ReportPlan struct {
	Rate                             float64
	APICores, WorkerCores, PGCores   Step
	APIHosts, WorkerHosts            int
	RedisCommands, RedisCores        Step
	RedisCeilingShare                Step // commands/s against redis-benchmark's rate
	Redis                            RedisChoice
	PGStatements, PGCommits, WALMBps Step
	PostgresVCPU                     int // 0: more than one primary of the largest class
	S3Requests, S3PUTs, S3MBps       Step
	S3PrefixShare                    Step // PUTs per client prefix against AWS's limit, if one client sent them all
}

// RedisChoice is the Redis topology for a load.
type RedisChoice struct {
	Masters     Step   // main-thread cores ÷ budget, rounded up
	Topology    string // what to run
	QueueShards int    // REDIS_QUEUE_SHARDS
}

// PlanReports sizes a deployment for rate reports/s with the measured
// per-report costs.
func PlanReports(f Figures, a Assumptions, rate float64) ReportPlan {
	c, _ := f.Marginal()
	p := ReportPlan{Rate: rate}
	p.APICores = cores(rate, c.CPUms.API, a.Utilisation)
	p.WorkerCores = cores(rate, c.CPUms.Worker, a.Utilisation)
	p.PGCores = cores(rate, c.CPUms.Postgres, a.Utilisation)
	p.APIHosts = max(2, ceilInt(p.APICores.Value/float64(a.HostCores)))
	p.WorkerHosts = max(2, ceilInt(p.WorkerCores.Value/float64(a.HostCores)))
	p.RedisCommands = perSecond(rate, c.RedisCommands, 1, "commands")
	p.RedisCores = perSecond(rate, c.CPUms.Redis, 1000, "CPU-ms")
	p.RedisCeilingShare = share(p.RedisCommands.Value, f.RedisCeiling.OpsPerSec, "redis-benchmark's ops/s")
	p.Redis = chooseRedis(p.RedisCores.Value, a)
	p.PGStatements = perSecond(rate, c.PostgresStatements, 1, "statements")
	p.PGCommits = perSecond(rate, c.PostgresCommits, 1, "commits")
	p.WALMBps = perSecond(rate, c.WALBytes, 1e6, "WAL bytes")
	p.PostgresVCPU = postgresClass(p.PGCores.Value, a)
	p.S3Requests = perSecond(rate, c.S3Total(), 1, "requests")
	p.S3PUTs = perSecond(rate, c.S3Requests["PUT"]+c.S3Requests["POST"], 1, "PUT/POST requests")
	p.S3MBps = perSecond(rate, c.S3BytesUp, 1e6, "bytes up")
	p.S3PrefixShare = share(p.S3PUTs.Value, a.S3PrefixPUTs, "PUTs/s per prefix")
	return p
}

// share is x as a fraction of limit.
func share(x, limit float64, unit string) Step {
	if limit <= 0 {
		return Step{Shown: fmt.Sprintf("%s ÷ (no %s measured)", Num(x), unit)}
	}
	return Step{Shown: fmt.Sprintf("%s ÷ %s %s", Num(x), Num(limit), unit), Value: x / limit}
}

// chooseRedis picks the topology: one master while its main thread stays
// within the budget (with a replica and Sentinel for failover), otherwise a
// Cluster with enough masters, and queue shards 3× the masters so the hash
// of queue names spreads them (README, "Running N workers").
func chooseRedis(mainThreadCores float64, a Assumptions) RedisChoice {
	m := Step{Shown: fmt.Sprintf("⌈%s cores ÷ %s⌉", Num(mainThreadCores), Num(a.RedisBudget)),
		Value: float64(max(1, ceilInt(mainThreadCores/a.RedisBudget)))}
	if m.Value <= 1 {
		return RedisChoice{Masters: m, QueueShards: 1,
			Topology: "one master: Sentinel (a master, one replica, three sentinels) for failover; REDIS_QUEUE_SHARDS=1"}
	}
	shards := min(a.MaxQueueShards, 3*int(m.Value))
	return RedisChoice{Masters: m, QueueShards: shards,
		Topology: fmt.Sprintf("Redis Cluster, %d masters with a replica each; REDIS_QUEUE_SHARDS=%d", int(m.Value), shards)}
}

// postgresClass is the smallest class whose vCPUs hold cores, or 0.
func postgresClass(cores float64, a Assumptions) int {
	for _, c := range a.PostgresClasses {
		if float64(c) >= cores {
			return c
		}
	}
	return 0
}

// EventPlan sizes a deployment for a steady rate of order events.
type EventPlan struct {
	Rate                                float64
	APICores, WorkerCores, PGCores      Step
	APIHosts, WorkerHosts               int
	Requests                            Step // POST /v1/order-events per second
	RedisCommands                       Step
	PGStatements, PGCommits, WALMBps    Step
	PostgresVCPU                        int
	RowsPerDay, LogGBPerDay, DBGBPerDay Step
	RetainedRows                        Step
	Partition                           string // when and how to partition order_events
	ProjectorShare                      Step   // rate against one projector's measured rate, with headroom
}

// PlanEvents sizes a deployment for rate events/s.
func PlanEvents(f Figures, a Assumptions, rate float64) EventPlan {
	_, c := f.Marginal()
	p := EventPlan{Rate: rate}
	p.APICores = cores(rate, c.CPUms.API, a.Utilisation)
	p.WorkerCores = cores(rate, c.CPUms.Worker, a.Utilisation)
	p.PGCores = cores(rate, c.CPUms.Postgres, a.Utilisation)
	p.APIHosts = max(2, ceilInt(p.APICores.Value/float64(a.HostCores)))
	p.WorkerHosts = max(2, ceilInt(p.WorkerCores.Value/float64(a.HostCores)))
	p.Requests = perSecond(rate, 1, float64(max(1, f.Workload.EventBatch)), "event")
	p.RedisCommands = perSecond(rate, c.RedisCommands, 1, "commands")
	p.PGStatements = perSecond(rate, c.PostgresStatements, 1, "statements")
	p.PGCommits = perSecond(rate, c.PostgresCommits, 1, "commits")
	p.WALMBps = perSecond(rate, c.WALBytes, 1e6, "WAL bytes")
	p.PostgresVCPU = postgresClass(p.PGCores.Value, a)
	p.RowsPerDay = perSecond(rate, 86400, 1, "s/day")
	p.LogGBPerDay = Step{Shown: fmt.Sprintf("%s rows/day × %s bytes ÷ 1e9", Num(p.RowsPerDay.Value), Num(f.EventLogBytes)),
		Value: p.RowsPerDay.Value * f.EventLogBytes / 1e9}
	p.DBGBPerDay = Step{Shown: fmt.Sprintf("%s rows/day × %s bytes ÷ 1e9", Num(p.RowsPerDay.Value), Num(f.DatabaseBytes)),
		Value: p.RowsPerDay.Value * f.DatabaseBytes / 1e9}
	p.RetainedRows = Step{Shown: fmt.Sprintf("%s rows/day × %d days", Num(p.RowsPerDay.Value), a.RetentionDays),
		Value: p.RowsPerDay.Value * float64(a.RetentionDays)}
	p.Partition = partitionRule(p.RowsPerDay.Value, p.RetainedRows.Value, a)
	p.ProjectorShare = share(rate, f.ProjectedPerSecond*a.Utilisation, "events/s (one projector × utilisation)")
	return p
}

// partitionRule says whether order_events needs partitions, and the
// longest time range (month, week, day, hour) whose rows fit PartitionRows.
func partitionRule(rowsPerDay, retained float64, a Assumptions) string {
	if retained <= a.PartitionRows {
		return fmt.Sprintf("not needed: %s retained rows ≤ %s", Num(retained), Num(a.PartitionRows))
	}
	when := "from the start"
	if days := a.PartitionRows / rowsPerDay; days >= 1 {
		when = fmt.Sprintf("before the log reaches %s rows, after %s days", Num(a.PartitionRows), Num(days))
	}
	for _, r := range []struct {
		name string
		days float64
	}{{"month", 30}, {"week", 7}, {"day", 1}, {"hour", 1.0 / 24}} {
		if rowsPerDay*r.days <= a.PartitionRows {
			return fmt.Sprintf("partition by time %s, one partition per %s (%s rows each ≤ %s; %s partitions over %d days); retention drops whole partitions",
				when, r.name, Num(rowsPerDay*r.days), Num(a.PartitionRows), group(strconv.Itoa(ceilInt(float64(a.RetentionDays)/r.days))), a.RetentionDays)
		}
	}
	return fmt.Sprintf("partition by hour and by hash of order_id %s: an hour holds %s rows", when, Num(rowsPerDay/24))
}

// Scaling is the check of the model: the gain of a second worker process
// it predicts against the gain measured. The benchmark machine is shared
// with other work whose load changes between the passes, so the prediction
// uses the cores that were free during the two-worker pass (the machine's
// cores less what the rest of it used meanwhile, from /proc/stat).
type Scaling struct {
	One, Two       Run
	AvailableCores Step // the machine's cores less other work during the two-worker pass
	CPUBound       Step // the rate those cores allow at the one-worker pass's CPU per report
	Utilisation    Step // how busy the one-worker pass kept the cores it had
	Predicted      Step // predicted two-worker rate: min(2 × one-worker rate, CPU bound)
	PredictedGain  Step
	MeasuredGain   Step
	// CPUBoundTwo is the bound again with the two-worker pass's own CPU per
	// report: what is left of the gap when the model's one assumption (CPU
	// per report does not change with processes) is replaced by the measurement.
	CPUBoundTwo Step
}

// CheckScaling returns the one-vs-two-workers comparison, or false when the
// figures hold no such pair.
func CheckScaling(f Figures) (Scaling, bool) {
	var s Scaling
	var one, two bool
	for _, r := range f.Scaling {
		switch r.Workers {
		case 1:
			s.One, one = r, true
		case 2:
			s.Two, two = r, true
		}
	}
	if !one || !two || s.One.PerSecond <= 0 || s.One.CPUms <= 0 {
		return s, false
	}
	availOne := float64(f.Cores) - s.One.ForeignCores
	avail := float64(f.Cores) - s.Two.ForeignCores
	s.AvailableCores = Step{Shown: fmt.Sprintf("%d cores − %s cores of other work", f.Cores, Num(s.Two.ForeignCores)), Value: avail}
	s.CPUBound = Step{Shown: fmt.Sprintf("%s cores × 1000 ÷ %s CPU-ms per report (every process, one-worker pass)", Num(avail), Num(s.One.CPUms)),
		Value: avail * 1000 / s.One.CPUms}
	s.Utilisation = Step{Shown: fmt.Sprintf("%s reports/s × %s CPU-ms ÷ 1000 ÷ (%d − %s) cores", Num(s.One.PerSecond), Num(s.One.CPUms), f.Cores, Num(s.One.ForeignCores)),
		Value: s.One.PerSecond * s.One.CPUms / 1000 / availOne}
	s.Predicted = Step{Shown: fmt.Sprintf("min(2 × %s, %s) reports/s", Num(s.One.PerSecond), Num(s.CPUBound.Value)),
		Value: math.Min(2*s.One.PerSecond, s.CPUBound.Value)}
	s.PredictedGain = Step{Shown: fmt.Sprintf("%s ÷ %s", Num(s.Predicted.Value), Num(s.One.PerSecond)), Value: s.Predicted.Value / s.One.PerSecond}
	s.MeasuredGain = Step{Shown: fmt.Sprintf("%s ÷ %s", Num(s.Two.PerSecond), Num(s.One.PerSecond)), Value: s.Two.PerSecond / s.One.PerSecond}
	if s.Two.CPUms > 0 {
		s.CPUBoundTwo = Step{Shown: fmt.Sprintf("%s cores × 1000 ÷ %s CPU-ms per report (two-worker pass)", Num(avail), Num(s.Two.CPUms)),
			Value: avail * 1000 / s.Two.CPUms}
	}
	return s, true
}
