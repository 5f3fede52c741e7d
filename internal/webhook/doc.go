// Package webhook signs, sends and verifies Standard Webhooks messages
// (https://www.standardwebhooks.com), symmetric (v1) and asymmetric (v1a),
// and decides when a failed delivery is tried again.
//
// It has five parts:
//
//   - Keys: HMAC secrets, [NewSecret] and [DecodeSecret] ("whsec_" + base64
//     of the key), and ed25519 key pairs, [NewSigningKey] ("whsk_…" signs,
//     "whpk_…" verifies), published as a [JWKS].
//   - Signing: [Sign] and [SignatureHeader] compute the webhook-signature
//     header from [SigningKeys], one signature per key while a key is being
//     rotated, "v1,…" for a secret and "v1a,…" for an ed25519 key.
//     [Verify] is the receiver side: our tests, the demo receiver and the
//     README use it, and it matches the reference libraries and Node's
//     crypto.
//   - Delivery: [Client.Send] makes one attempt and classifies it as an
//     [Outcome]. The client never follows redirects, never uses a proxy, and
//     refuses to connect to loopback, private, link-local, CGNAT, multicast
//     and metadata addresses after DNS resolution ([IsBlockedAddr]), so DNS
//     rebinding cannot get around the guard. [ValidateURL] rejects bad URLs
//     before they are stored.
//   - Retries: a [Schedule] lists the delays between attempts and plugs into
//     asynq's MaxRetry and RetryDelayFunc, with additive jitter so a retry
//     never comes early.
//   - Endpoint health: a [BreakerPolicy] decides, as pure functions, what an
//     attempt does to an endpoint's [Health] (pause, probe, resume, disable)
//     and whether a delivery may go now ([BreakerPolicy.Admit]: a report's
//     order, the breaker, the per-endpoint concurrency limit).
//
// The package is a leaf: it imports only the standard library.
package webhook
