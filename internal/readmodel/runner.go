package readmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunProjector keeps this process's share of every projection's partitions
// caught up until ctx ends. Each projection runs on its own: it registers
// this worker, leases its fair share of partitions (ceil(partitions / live
// workers)), gives back any beyond it so a new worker gets some, takes over
// partitions whose lease expired, and passes over the ones it holds. It
// wakes on NOTIFY from Append, on a dedicated connection, and polls at least
// every Lease/3 (renewing its leases), in case a notification was lost. On
// the way out it releases its leases, so another worker takes them at once.
// Beside them it builds the partition index for the partitions' count if it
// is missing (see partindex.go).
//
// It returns an error only when PROJECTION_PARTITIONS disagrees with the
// partitions that exist (ErrPartitionsChanged), once both projections have
// stopped; anything else is logged and retried.
func (s *Store) RunProjector(ctx context.Context) error {
	ps := projections()
	wakes := make([]chan struct{}, len(ps))
	for i := range wakes {
		wakes[i] = make(chan struct{}, 1)
	}
	listenCtx, stopListening := context.WithCancel(ctx)
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		s.listen(listenCtx, wakes)
	}()
	// The partition index may take a while on a big log; passes run
	// without it meanwhile.
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		s.keepPartitionIndexes(listenCtx)
	}()
	var wg sync.WaitGroup
	errs := make([]error, len(ps))
	for i, p := range ps {
		wg.Go(func() { errs[i] = s.runPartitions(ctx, p, wakes[i]) })
	}
	wg.Wait()
	stopListening()
	<-listened
	<-indexed
	return errors.Join(errs...)
}

// PreparePartitions creates every projection's partitions if they do not
// exist yet, and fails with ErrPartitionsChanged if they exist in a number
// other than PROJECTION_PARTITIONS. The worker calls it at start-up.
func (s *Store) PreparePartitions(ctx context.Context) error {
	var errs []error
	for _, p := range projections() {
		errs = append(errs, s.ensurePartitions(ctx, p))
	}
	return errors.Join(errs...)
}

// listen turns NOTIFY on the order-event channel into wake-ups, until ctx
// ends; while it cannot listen the runners only poll.
func (s *Store) listen(ctx context.Context, wakes []chan struct{}) {
	for {
		err := s.listenOnce(ctx, wakes)
		if ctx.Err() != nil {
			return
		}
		s.logger.ErrorContext(ctx, "projector listener stopped; reconnecting", "error", err, "pause", s.retryPause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.retryPause):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, wakes []chan struct{}) error {
	conn, err := pgx.ConnectConfig(ctx, s.write.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect projector listener: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen %s: %w", notifyChannel, err)
	}
	s.logger.InfoContext(ctx, "projector listening", "channel", notifyChannel)
	wakeAll(wakes) // whatever was appended while nobody listened
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for order events: %w", err)
		}
		wakeAll(wakes)
	}
}

func wakeAll(wakes []chan struct{}) {
	for _, w := range wakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// runPartitions is one projection's loop in this process.
func (s *Store) runPartitions(ctx context.Context, p projection, wake <-chan struct{}) error {
	r := &partitionRunner{s: s, p: p}
	defer r.stop(ctx)
	for {
		if err := r.step(ctx); err != nil {
			if ctx.Err() != nil {
				return nil //nolint:nilerr // ctx ended: a shutdown, and err is only its echo
			}
			if errors.Is(err, ErrPartitionsChanged) {
				return err
			}
			s.logger.ErrorContext(ctx, "projector pass failed; retrying", "projection", p.name, "error", err, "pause", s.retryPause)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(s.retryPause):
			}
			continue
		}
		wait := time.NewTimer(min(s.safetyPoll, time.Until(r.renewAt)))
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil
		case <-wake:
		case <-wait.C:
		}
		wait.Stop()
	}
}

// partitionRunner holds one projection's leases in this process.
type partitionRunner struct {
	s       *Store
	p       projection
	ready   bool // the projection's partitions exist, in the configured number
	held    []lease
	renewAt time.Time // when the leases are next renewed and rebalanced
}

// step makes sure the partitions exist, renews and rebalances the leases
// when due, then catches every held partition up, stopping between passes
// when the leases are due again.
func (r *partitionRunner) step(ctx context.Context) error {
	if !r.ready {
		if err := r.s.ensurePartitions(ctx, r.p); err != nil {
			return err
		}
		r.ready = true
	}
	if !time.Now().Before(r.renewAt) {
		if err := r.balance(ctx); err != nil {
			return err
		}
	}
	due := func() bool { return !time.Now().Before(r.renewAt) }
	held := r.held
	r.held = make([]lease, 0, len(held))
	for i, l := range held {
		if due() {
			// The ones not reached go first next time, so a partition
			// with a long backlog cannot starve the others.
			r.held = append(slices.Clone(held[i:]), r.held...)
			return nil
		}
		_, ok, err := r.s.catchUp(ctx, r.p, l.index, &l, due)
		if ok {
			r.held = append(r.held, l)
		} else {
			r.s.logger.WarnContext(ctx, "lost a partition lease to another worker", "projection", r.p.name, "partition", l.index)
		}
		if err != nil {
			r.held = append(r.held, held[i+1:]...)
			return err
		}
	}
	return nil
}

// balance renews the held leases, then moves toward the fair share: gives
// back the partitions beyond it (the highest first), or claims free and
// expired ones up to it.
func (r *partitionRunner) balance(ctx context.Context) error {
	s := r.s
	live, err := s.heartbeat(ctx, r.p)
	if err != nil {
		return err
	}
	renewed, err := s.renewLeases(ctx, r.p, r.held)
	if err != nil {
		return err
	}
	r.held = slices.DeleteFunc(r.held, func(l lease) bool { // keeping the order step left
		if slices.ContainsFunc(renewed, func(n lease) bool { return n.index == l.index }) {
			return false
		}
		s.logger.WarnContext(ctx, "lost a partition lease to another worker", "projection", r.p.name, "partition", l.index)
		return true
	})
	count, err := s.partitionCount(ctx, r.p)
	if err != nil {
		return err
	}
	fair := fairShare(count, live)
	if give := surplus(r.held, fair); len(give) > 0 {
		if err := s.releaseLeases(ctx, r.p, give); err != nil {
			return err
		}
		r.held = slices.DeleteFunc(r.held, func(l lease) bool {
			return slices.ContainsFunc(give, func(g lease) bool { return g.index == l.index })
		})
		s.logger.InfoContext(ctx, "released partitions to other workers", "projection", r.p.name,
			"released", len(give), "held", len(r.held), "workers", live)
	} else if want := fair - len(r.held); want > 0 {
		got, err := s.claimLeases(ctx, r.p, want)
		if err != nil {
			return err
		}
		if len(got) > 0 {
			r.held = append(r.held, got...)
			s.logger.InfoContext(ctx, "leased partitions", "projection", r.p.name,
				"leased", len(got), "held", len(r.held), "workers", live)
		}
	}
	r.renewAt = time.Now().Add(s.lease / 3)
	return nil
}

// fairShare is how many of a projection's partitions one of its live
// workers holds: ceil(partitions / workers), so the shares always cover
// every partition.
func fairShare(partitions, workers int) int {
	return (partitions + max(workers, 1) - 1) / max(workers, 1)
}

// surplus is what a worker holding held gives back to come down to fair:
// its highest partitions, so the workers that stay keep theirs.
func surplus(held []lease, fair int) []lease {
	extra := len(held) - fair
	if extra <= 0 {
		return nil
	}
	byIndex := slices.SortedFunc(slices.Values(held), func(a, b lease) int { return a.index - b.index })
	return byIndex[len(byIndex)-extra:]
}

// stop gives the leases back, unless the Store is set to stop like a killed
// worker (tests), so another worker takes them over at once.
func (r *partitionRunner) stop(ctx context.Context) {
	s := r.s
	if s.keepLeasesOnStop {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := errors.Join(s.releaseLeases(ctx, r.p, r.held), s.leaveWorkers(ctx, r.p)); err != nil {
		s.logger.WarnContext(ctx, "release partitions on the way out; they move when their leases expire", "projection", r.p.name, "error", err)
		return
	}
	if len(r.held) > 0 {
		s.logger.InfoContext(ctx, "released partitions", "projection", r.p.name, "released", len(r.held))
	}
}
