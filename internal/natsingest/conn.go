package natsingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reportd/reportd/internal/config"
)

// Connect opens a NATS connection with the configured credentials: user and
// password in the URL, a .creds file (EVENTS_NATS_CREDS) or an nkey seed
// file (EVENTS_NATS_NKEY). While the server is unreachable it returns a
// connection that keeps trying, so a process starts without NATS and
// catches up once it is back.
func Connect(cfg config.EventsNATS, name string, logger *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("nats reconnected", "server", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { logger.Warn("nats error", "err", err) }),
	}
	switch {
	case cfg.Creds != "":
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	case cfg.NKey != "":
		opt, err := nats.NkeyOptionFromSeed(cfg.NKey)
		if err != nil {
			return nil, fmt.Errorf("read EVENTS_NATS_NKEY %s: %w", cfg.NKey, err)
		}
		opts = append(opts, opt)
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to EVENTS_NATS_URL: %w", err)
	}
	return nc, nil
}

// Lag is how far the durable consumer is behind its stream.
type Lag struct {
	Stream   string
	Consumer string
	// Pending messages match the consumer's filter and were not delivered yet.
	Pending uint64
	// AckPending were delivered and are not acked yet (in hand, or waiting
	// for redelivery after a transient failure).
	AckPending int
	// Redelivered are ack-pending messages delivered more than once.
	Redelivered int
}

// ConsumerLag reads the consumer's state from the server.
func ConsumerLag(ctx context.Context, js jetstream.JetStream, cfg config.EventsNATS) (Lag, error) {
	lag := Lag{Stream: cfg.Stream, Consumer: cfg.Consumer}
	cons, err := js.Consumer(ctx, cfg.Stream, cfg.Consumer)
	if err != nil {
		return lag, fmt.Errorf("read consumer %s/%s: %w", cfg.Stream, cfg.Consumer, err)
	}
	info := cons.CachedInfo() // just fetched by Consumer
	lag.Pending, lag.AckPending, lag.Redelivered = info.NumPending, info.NumAckPending, info.NumRedelivered
	return lag, nil
}
