// Package natsingest feeds the order event log from NATS JetStream: a
// durable pull consumer reads one event or one batch body per message (the
// shapes POST /v1/order-events takes), for the client its Reportd-Client
// header names, and appends them with the same validation and idempotency
// as the HTTP path. A message is acked only after its events are committed;
// one that can never be valid goes to a dead-letter subject with its reason
// in headers and is terminated; a transient failure is redelivered later.
package natsingest
