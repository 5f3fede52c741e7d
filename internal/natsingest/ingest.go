package natsingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reportd/reportd/internal/config"
	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/ids"
	"github.com/reportd/reportd/internal/orderevents"
)

// Headers a message carries, and those a dead letter gets.
const (
	// HeaderClient names the tenant (a client id) whose events the message holds.
	HeaderClient = "Reportd-Client"
	// HeaderReason is a dead letter's reason code (one of the Reason* constants).
	HeaderReason = "Reportd-Dlq-Reason"
	// HeaderError says what is wrong, in one line.
	HeaderError = "Reportd-Dlq-Error"
	// HeaderErrors lists a validation failure's field errors as JSON
	// [{"field","message"}], as the HTTP path's errors[].
	HeaderErrors = "Reportd-Dlq-Errors"
	// HeaderSubject, HeaderStream and HeaderSequence say where the original was.
	HeaderSubject  = "Reportd-Dlq-Subject"
	HeaderStream   = "Reportd-Dlq-Stream"
	HeaderSequence = "Reportd-Dlq-Stream-Sequence"
)

// Dead-letter reasons: what can never become valid by retrying.
const (
	ReasonMissingClient    = "missing_client_header"
	ReasonUnknownClient    = "unknown_client"
	ReasonMissingScope     = "missing_scope"
	ReasonMalformed        = "malformed" // the body does not decode (the HTTP path's 400)
	ReasonInvalid          = "invalid"   // a value breaks a rule (the HTTP path's 422)
	ReasonSequenceConflict = "sequence_conflict"
)

// scopeEventsWrite is the scope a client needs to write events (api.ScopeEventsWrite).
const scopeEventsWrite = "events:write"

// Appender appends validated events to the log (readmodel.Store).
type Appender interface {
	Append(ctx context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error)
}

// Clients tells which scopes a client's keys carry; domain.ErrNotFound for
// an unknown client (postgres.Store).
type Clients interface {
	ClientScopes(ctx context.Context, clientID string) ([]string, error)
}

// Observer counts messages by outcome: accepted, duplicate, dead_lettered, retried.
type Observer interface {
	NATSMessage(outcome string)
}

// Message outcomes.
const (
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate" // every event was in the log already
	OutcomeDeadLettered = "dead_lettered"
	OutcomeRetried      = "retried"
)

// Ingester consumes order events from JetStream into the log.
type Ingester struct {
	JS       jetstream.JetStream
	Events   Appender
	Clients  Clients
	Observer Observer // may be nil
	Logger   *slog.Logger
	Config   config.EventsNATS

	// SetupRetry is the pause between attempts to create the stream and
	// consumer while NATS is unreachable; 0 means 2s.
	SetupRetry time.Duration

	mu      sync.Mutex // held while a message is handled, so Run can wait for it
	stopped bool
	scopes  scopeCache
}

// Run creates the streams and the durable consumer if they are missing
// (retrying while NATS is unreachable) and consumes until ctx ends, then
// returns nil; an error means it could not consume at all. The
// message being handled when ctx ends is finished (committed and acked, or
// not acked at all); messages buffered behind it are handed back.
func (in *Ingester) Run(ctx context.Context) error {
	for {
		cons, ok := in.setupUntilReady(ctx)
		if !ok {
			return nil // ctx ended
		}
		// A deleted consumer (an operator's hand, a stream recreated) ends
		// Consume for good; set it up again rather than sit idle.
		lost := make(chan struct{}, 1)
		in.mu.Lock()
		in.stopped = false
		in.mu.Unlock()
		cc, err := cons.Consume(func(msg jetstream.Msg) { in.handle(ctx, msg) },
			// A small buffer: what a dead worker had fetched waits AckWait.
			jetstream.PullMaxMessages(64),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				in.Logger.WarnContext(ctx, "nats ingestion: consume", "err", err)
				if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
					select {
					case lost <- struct{}{}:
					default:
					}
				}
			}))
		if err != nil {
			return fmt.Errorf("consume %s/%s: %w", in.Config.Stream, in.Config.Consumer, err)
		}
		in.Logger.InfoContext(ctx, "nats ingestion running", "stream", in.Config.Stream, "consumer", in.Config.Consumer,
			"subject", in.Config.Subject, "dlq_subject", in.Config.DLQSubject)
		select {
		case <-ctx.Done():
		case <-lost:
		}
		cc.Stop()
		in.mu.Lock() // waits for the message in hand
		in.stopped = true
		in.mu.Unlock()
		select {
		case <-cc.Closed():
		case <-time.After(5 * time.Second): // a dead connection may never confirm
		}
		select {
		case <-ctx.Done():
			return nil
		default:
		}
	}
}

// setupUntilReady retries setup until it works or ctx ends (false).
func (in *Ingester) setupUntilReady(ctx context.Context) (jetstream.Consumer, bool) {
	for {
		cons, err := in.setup(ctx)
		if err == nil {
			return cons, true
		}
		in.Logger.ErrorContext(ctx, "nats ingestion: set up stream and consumer", "stream", in.Config.Stream, "consumer", in.Config.Consumer, "err", err)
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(cmpOr(in.SetupRetry, 2*time.Second)):
		}
	}
}

// setup makes sure the stream, the dead-letter stream and the consumer exist.
func (in *Ingester) setup(ctx context.Context) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := in.Config
	if err := in.ensureStream(ctx, c.Stream, c.Subject, 7*24*time.Hour); err != nil {
		return nil, err
	}
	// Dead letters go wherever a stream already captures them.
	if _, err := in.JS.StreamNameBySubject(ctx, c.DLQSubject); errors.Is(err, jetstream.ErrStreamNotFound) {
		if err := in.ensureStream(ctx, c.DLQStream, c.DLQSubject, 30*24*time.Hour); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("find the stream of %s: %w", c.DLQSubject, err)
	}
	cons, err := in.JS.CreateOrUpdateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable:       c.Consumer,
		Description:   "reportd order-event ingestion",
		FilterSubject: c.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    -1, // a transient failure is retried for as long as it lasts
		MaxAckPending: 1000,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on %s: %w", c.Consumer, c.Stream, err)
	}
	return cons, nil
}

// ensureStream creates a stream capturing subject unless one of that name
// exists; an existing stream is left as its operator configured it.
func (in *Ingester) ensureStream(ctx context.Context, name, subject string, maxAge time.Duration) error {
	_, err := in.JS.Stream(ctx, name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("look up stream %s: %w", name, err)
	}
	_, err = in.JS.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, MaxAge: maxAge,
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create stream %s for %s: %w", name, subject, err)
	}
	in.Logger.InfoContext(ctx, "nats ingestion: created stream", "stream", name, "subject", subject, "max_age", maxAge)
	return nil
}

// verdict is what becomes of one message.
type verdict struct {
	outcome string // an Outcome* constant
	reason  string // for dead letters: a Reason* constant
	detail  string // for dead letters: one line on what is wrong
	fields  []orderevents.FieldError
	err     error // the cause, for the log
}

func deadLetter(reason, detail string, err error) verdict {
	return verdict{outcome: OutcomeDeadLettered, reason: reason, detail: detail, err: err}
}

// process validates and appends one message's events. It never acks: the
// caller does, after this has returned (so after the commit).
func (in *Ingester) process(ctx context.Context, data []byte, hdr nats.Header) verdict {
	clientID := hdr.Get(HeaderClient)
	if clientID == "" {
		return deadLetter(ReasonMissingClient, "the message has no "+HeaderClient+" header naming the client", nil)
	}
	if !ids.HasPrefix(clientID, "cli") {
		return deadLetter(ReasonUnknownClient, "the "+HeaderClient+" header is not a client id", nil)
	}
	scopes, err := in.scopes.get(ctx, in.Clients, clientID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return deadLetter(ReasonUnknownClient, "no client "+clientID, err)
	case err != nil:
		return verdict{outcome: OutcomeRetried, err: fmt.Errorf("look up client %s: %w", clientID, err)}
	case !slices.Contains(scopes, scopeEventsWrite):
		return deadLetter(ReasonMissingScope, "client "+clientID+" has no key with the "+scopeEventsWrite+" scope", nil)
	}

	events, err := orderevents.ParseBatch(batchBody(data))
	if se, ok := errors.AsType[*orderevents.SyntaxError](err); ok {
		return deadLetter(ReasonMalformed, se.Error(), err)
	}
	if ve, ok := errors.AsType[*orderevents.ValidationError](err); ok {
		v := deadLetter(ReasonInvalid, ve.Error(), err)
		v.fields = ve.Errors
		return v
	}
	if err != nil {
		return deadLetter(ReasonMalformed, "the body is not an event or an event batch", err)
	}

	res, err := in.Events.Append(ctx, clientID, events)
	if sc, ok := errors.AsType[*domain.SequenceConflictError](err); ok {
		return deadLetter(ReasonSequenceConflict, fmt.Sprintf("order %s already has an event with sequence %d under another event_id", sc.OrderID, sc.Sequence), err)
	}
	if errors.Is(err, domain.ErrSequenceConflict) {
		// A concurrent append took the sequence: retried, it is either a
		// duplicate now or a conflict that names the order.
		return verdict{outcome: OutcomeRetried, err: err}
	}
	if err != nil {
		// Everything the client sent was validated above, so what is left
		// is ours (Postgres down, a deadline): never dropped.
		return verdict{outcome: OutcomeRetried, err: err}
	}
	if res.Accepted == 0 {
		return verdict{outcome: OutcomeDuplicate}
	}
	return verdict{outcome: OutcomeAccepted}
}

// handle processes one message and settles it: ack after a commit, dead
// letter and term for what can never be valid, nak with a delay otherwise.
func (in *Ingester) handle(ctx context.Context, msg jetstream.Msg) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		_ = msg.Nak() // buffered behind shutdown: the next consumer takes it at once
		return
	}
	// The commit and the ack outlive a shutdown signal, within AckWait.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.Config.AckWait*3/4)
	defer cancel()
	log := in.Logger.With("subject", msg.Subject(), "client_id", msg.Headers().Get(HeaderClient))
	if meta, err := msg.Metadata(); err == nil {
		log = log.With("stream_sequence", meta.Sequence.Stream, "deliveries", meta.NumDelivered)
	}

	v := in.process(work, msg.Data(), msg.Headers())
	var err error
	switch v.outcome {
	case OutcomeAccepted, OutcomeDuplicate:
		err = msg.Ack()
		log.DebugContext(work, "nats ingestion: appended", "outcome", v.outcome)
	case OutcomeDeadLettered:
		if err = in.publishDeadLetter(work, msg, v); err != nil {
			log.ErrorContext(work, "nats ingestion: publish dead letter; will retry", "reason", v.reason, "err", err)
			v.outcome, err = OutcomeRetried, msg.NakWithDelay(in.Config.NakDelay)
			break
		}
		log.WarnContext(work, "nats ingestion: dead-lettered", "reason", v.reason, "detail", v.detail, "dlq_subject", in.Config.DLQSubject)
		err = msg.Term()
	default:
		log.WarnContext(work, "nats ingestion: transient failure; will retry", "delay", in.Config.NakDelay, "err", v.err)
		err = msg.NakWithDelay(in.Config.NakDelay)
	}
	if err != nil {
		// Unsettled, the message comes back after AckWait; the log is
		// idempotent on event_id, so that costs only a duplicate.
		log.WarnContext(work, "nats ingestion: settle message", "outcome", v.outcome, "err", err)
	}
	if in.Observer != nil {
		in.Observer.NATSMessage(v.outcome)
	}
}

// maxHeader bounds a dead letter's error headers.
const maxHeader = 4 << 10

// publishDeadLetter stores the original body and headers on the DLQ subject,
// with the reason. Its Nats-Msg-Id is the original's stream position, so a
// redelivery after a crash between publish and term is not stored twice.
func (in *Ingester) publishDeadLetter(ctx context.Context, msg jetstream.Msg, v verdict) error {
	dl := nats.NewMsg(in.Config.DLQSubject)
	dl.Data = msg.Data()
	for k, vals := range msg.Headers() {
		if strings.HasPrefix(k, "Nats-") { // JetStream's own (expectations, dedup ids) would misfire here
			continue
		}
		dl.Header[k] = vals
	}
	dl.Header.Set(HeaderReason, v.reason)
	dl.Header.Set(HeaderError, oneLine(v.detail))
	if len(v.fields) > 0 {
		if b, err := json.Marshal(v.fields); err == nil && len(b) <= maxHeader {
			dl.Header.Set(HeaderErrors, string(b))
		}
	}
	dl.Header.Set(HeaderSubject, msg.Subject())
	dl.Header.Set(HeaderStream, in.Config.Stream)
	if meta, err := msg.Metadata(); err == nil {
		seq := strconv.FormatUint(meta.Sequence.Stream, 10)
		dl.Header.Set(HeaderSequence, seq)
		dl.Header.Set(nats.MsgIdHdr, meta.Stream+":"+seq)
	}
	if _, err := in.JS.PublishMsg(ctx, dl); err != nil {
		return fmt.Errorf("publish dead letter to %s: %w", in.Config.DLQSubject, err)
	}
	return nil
}

// oneLine makes s a header value: no control characters (CR LF would end
// the header), at most maxHeader bytes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxHeader {
		s = strings.ToValidUTF8(s[:maxHeader], "")
	}
	return s
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// scopeCache remembers a client's scopes for a few seconds, so a busy
// stream does not cost a lookup per message. A revoked key or a new client
// is seen within scopeTTL; failures are not cached.
type scopeCache struct {
	mu      sync.Mutex
	entries map[string]cachedScopes
}

type cachedScopes struct {
	scopes  []string
	expires time.Time
}

const (
	scopeTTL        = 5 * time.Second
	maxCachedScopes = 10000
)

func (c *scopeCache) get(ctx context.Context, clients Clients, clientID string) ([]string, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[clientID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.scopes, nil
	}
	scopes, err := clients.ClientScopes(ctx, clientID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxCachedScopes {
		c.entries = map[string]cachedScopes{}
	}
	c.entries[clientID] = cachedScopes{scopes: scopes, expires: now.Add(scopeTTL)}
	c.mu.Unlock()
	return scopes, nil
}
