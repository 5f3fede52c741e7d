package main

import (
	"context"
	"flag"

	"github.com/reportd/reportd/internal/readmodel"
)

// parkedFlags are the filters both events commands take.
func parkedFlags(fs *flag.FlagSet) *readmodel.ParkedFilter {
	var f readmodel.ParkedFilter
	fs.StringVar(&f.Projection, "projection", "", "only this projection (default: all)")
	fs.StringVar(&f.ClientID, "client", "", "only this client's events (default: every client)")
	fs.StringVar(&f.OrderID, "order", "", "only this order's events (default: every order)")
	return &f
}

func (c *cli) eventsParked(ctx context.Context, args []string) error {
	fs := c.flags("events parked")
	f := parkedFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, pool, logger, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	parked, err := readmodel.NewStore(pool, pool, logger).Parked(ctx, *f)
	if err != nil {
		return err
	}
	if parked == nil {
		parked = []readmodel.ParkedEvent{} // [] rather than null
	}
	return c.printJSON(parked)
}

func (c *cli) eventsRetry(ctx context.Context, args []string) error {
	fs := c.flags("events retry")
	f := parkedFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, pool, logger, err := c.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	rm := readmodel.NewStore(pool, pool, logger)
	res, err := rm.RetryParked(ctx, *f)
	if err != nil {
		return err
	}
	still, err := rm.Parked(ctx, *f)
	if err != nil {
		return err
	}
	if still == nil {
		still = []readmodel.ParkedEvent{}
	}
	return c.printJSON(map[string]any{"retried": res.Retried, "applied": res.Applied, "parked": res.Parked, "still_parked": still})
}
