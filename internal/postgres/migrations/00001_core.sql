-- +goose Up
-- Tenants. A client owns API keys, webhook secrets, reports and order data.
CREATE TABLE clients (
    id                  text PRIMARY KEY,
    name                text NOT NULL,
    webhook_url         text,
    webhook_disabled_at timestamptz,
    max_in_flight       integer CHECK (max_in_flight >= 0), -- NULL: MAX_IN_FLIGHT; 0: no limit
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored only as SHA-256 hashes; prefix helps operators tell keys apart.
CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    client_id  text NOT NULL REFERENCES clients (id),
    prefix     text NOT NULL,
    hash       bytea NOT NULL UNIQUE,
    scopes     text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_client ON api_keys (client_id);

-- Webhook signing secrets. expires_at NULL is the current secret; a rotated-out
-- secret keeps signing until its expires_at (the grace period).
CREATE TABLE webhook_secrets (
    id         bigserial PRIMARY KEY,
    client_id  text NOT NULL REFERENCES clients (id),
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
CREATE INDEX webhook_secrets_client ON webhook_secrets (client_id);

CREATE TABLE reports (
    id              text PRIMARY KEY,
    client_id       text NOT NULL REFERENCES clients (id),
    type            text NOT NULL,
    format          text NOT NULL,
    params          jsonb NOT NULL,
    metadata        jsonb,
    webhook_url     text,
    min_position    bigint,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled', 'expired')),
    attempts        integer NOT NULL DEFAULT 0,
    error_code      text,
    error_message   text,
    object_key      text,
    content_type    text,
    size_bytes      bigint,
    sha256          text,
    pages           integer,
    rows            integer,
    data_position   bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    completed_at    timestamptz,
    expires_at      timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    request_id      text,        -- the X-Request-ID that created it, for logs downstream
    enqueued_at     timestamptz  -- when the dispatcher handed it to the queue (transactional outbox)
);
CREATE INDEX reports_client_created ON reports (client_id, created_at DESC, id DESC);
CREATE INDEX reports_unfinished ON reports (updated_at) WHERE status IN ('queued', 'running');
CREATE INDEX reports_to_enqueue ON reports (created_at) WHERE status = 'queued' AND enqueued_at IS NULL;
CREATE INDEX reports_client_in_flight ON reports (client_id) WHERE status IN ('queued', 'running');
CREATE INDEX reports_expiring ON reports (expires_at) WHERE status = 'succeeded';

-- One delivery per (report, event type). Its id is the webhook-id, stable
-- across retries and replays, and its body is frozen at creation.
CREATE TABLE deliveries (
    id               text PRIMARY KEY,
    report_id        text NOT NULL REFERENCES reports (id),
    client_id        text NOT NULL REFERENCES clients (id),
    event_type       text NOT NULL,
    url              text NOT NULL,
    body             bytea NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failing', 'dead', 'disabled')),
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    dead_at          timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (report_id, event_type)
);
CREATE INDEX deliveries_client_status ON deliveries (client_id, status, created_at);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'failing');

CREATE TABLE delivery_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   text NOT NULL REFERENCES deliveries (id),
    attempt       integer NOT NULL,
    started_at    timestamptz NOT NULL,
    status_code   integer,
    latency_ms    integer NOT NULL,
    outcome       text NOT NULL,
    error         text,
    response_body text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

-- Idempotency keys for POST endpoints, kept 24 h.
CREATE TABLE idempotency_keys (
    client_id       text NOT NULL REFERENCES clients (id),
    endpoint        text NOT NULL,
    key             text NOT NULL,
    fingerprint     bytea NOT NULL,
    response_status integer,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (client_id, endpoint, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE reports;
DROP TABLE webhook_secrets;
DROP TABLE api_keys;
DROP TABLE clients;
