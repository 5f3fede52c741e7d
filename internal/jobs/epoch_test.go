package jobs

import (
	"context"
	"errors"
	"testing"
)

// scriptedCounter answers INCR from a script of values and errors.
type scriptedCounter struct {
	values  []int64
	servers []string // "" in a step: the same server as before
	errs    []error
	server  string
}

func (c *scriptedCounter) Incr(context.Context) (int64, string, error) {
	v, err := c.values[0], c.errs[0]
	if len(c.servers) > 0 {
		if c.servers[0] != "" {
			c.server = c.servers[0]
		}
		c.servers = c.servers[1:]
	}
	c.values, c.errs = c.values[1:], c.errs[1:]
	return v, c.server, err
}

func TestEpochNoticesANewServer(t *testing.T) {
	c := &scriptedCounter{
		values:  []int64{5, 6, 7, 8},
		servers: []string{"a", "", "b", ""}, // the master fails over to b, whose counter still grows
		errs:    []error{nil, nil, nil, nil},
	}
	e := &Epoch{Counter: c}
	want := []bool{false, false, true, false}
	for i, w := range want {
		lost, err := e.Check(t.Context())
		if err != nil || lost != w {
			t.Errorf("check %d: lost %t, err %v; want lost %t", i, lost, err, w)
		}
	}
}

func TestEpochNoticesDataLoss(t *testing.T) {
	down := errors.New("dial tcp: connection refused")
	steps := []struct {
		value    int64
		err      error
		wantLost bool
	}{
		{5, nil, false},   // first answer: nothing to compare with
		{6, nil, false},   // growing
		{9, nil, false},   // other processes increment too
		{0, down, false},  // Redis away: no verdict
		{0, down, false},  //
		{1, nil, true},    // back, empty: restarted without its data
		{2, nil, false},   // growing again from there
		{40, nil, false},  //
		{38, nil, true},   // failover to a replica that missed our last writes
		{39, nil, false},  //
		{39, nil, true},   // not even one increment: flushed and rewritten by others
		{100, nil, false}, //
	}
	c := &scriptedCounter{}
	for _, s := range steps {
		c.values = append(c.values, s.value)
		c.errs = append(c.errs, s.err)
	}
	e := &Epoch{Counter: c}
	for i, s := range steps {
		lost, err := e.Check(t.Context())
		if (err != nil) != (s.err != nil) || lost != s.wantLost {
			t.Errorf("step %d (INCR → %d, %v): lost %t, err %v; want lost %t", i, s.value, s.err, lost, err, s.wantLost)
		}
	}
}
