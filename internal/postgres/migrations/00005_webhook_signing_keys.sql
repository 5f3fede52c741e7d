-- +goose Up
-- A client signs with HMAC (v1, a "whsec_" secret) or ed25519 (v1a, a
-- "whsk_" private key), and may hold both kinds during a rotation. secret
-- holds either kind, sealed ("enc1:<key id>:…", AES-256-GCM under
-- WEBHOOK_KEY_ENCRYPTION_KEY, the client id as additional data) when a key is
-- configured; ed25519 keys are always sealed. HMAC secrets stored before a key
-- was configured stay plaintext until `reportctl keys reencrypt` seals them.
-- public_key is the ed25519 public key GET /v1/webhook-keys publishes.
ALTER TABLE webhook_secrets
    ADD COLUMN signing text NOT NULL DEFAULT 'hmac' CHECK (signing IN ('hmac', 'ed25519')),
    ADD COLUMN public_key bytea,
    ADD CONSTRAINT webhook_secrets_public_key CHECK (
        (signing = 'ed25519') = (public_key IS NOT NULL AND octet_length(public_key) = 32));

-- +goose Down
ALTER TABLE webhook_secrets DROP CONSTRAINT webhook_secrets_public_key,
    DROP COLUMN public_key, DROP COLUMN signing;
