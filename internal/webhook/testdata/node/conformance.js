// Test helper for internal/webhook: checks our signatures with libraries
// no one here wrote, and signs messages for our Verify.
//
// - "verify"/"sign": the standardwebhooks reference library (v1, HMAC). It
//   supports only v1: it skips v1a signatures in a header.
// - "ed25519_verify"/"ed25519_sign": Node's own crypto (v1a, ed25519), with
//   keys imported from the JWKs that GET /v1/webhook-keys serves.
//
// stdin:  {"verify": [{"secret", "headers": {name: value}, "payload_b64"}],
//          "sign":   [{"secret", "id", "timestamp", "payload_b64"}],
//          "ed25519_verify": [{"jwk", "headers", "payload_b64"}],
//          "ed25519_sign":   [{"jwk" (with "d"), "id", "timestamp", "payload_b64"}]}
// stdout: {"verify": [{"ok": true} | {"ok": false, "error": "..."}],
//          "sign":   ["v1,..."],
//          "ed25519_verify": [{"ok": ...}], "ed25519_sign": ["v1a,..."]}
"use strict";
const crypto = require("crypto");
const { Webhook } = require("standardwebhooks");

// verifyV1a is what a receiver does with a JWKS key: the content signed is
// "{webhook-id}.{webhook-timestamp}.{body}"; any v1a signature may match.
function verifyV1a(jwk, headers, payload) {
  const h = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = v;
  const id = h["webhook-id"], ts = h["webhook-timestamp"], sigs = h["webhook-signature"];
  if (!id || !ts || !sigs) throw new Error("missing webhook headers");
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) throw new Error("timestamp outside tolerance");
  const key = crypto.createPublicKey({ key: jwk, format: "jwk" });
  const content = Buffer.concat([Buffer.from(`${id}.${ts}.`), payload]);
  for (const versioned of sigs.split(" ")) {
    const [version, sig] = versioned.split(",");
    if (version === "v1a" && crypto.verify(null, content, key, Buffer.from(sig, "base64"))) return;
  }
  throw new Error("no matching v1a signature");
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const req = JSON.parse(input);
  const out = { verify: [], sign: [], ed25519_verify: [], ed25519_sign: [] };
  const verdict = (list, fn) => {
    try {
      fn();
      list.push({ ok: true });
    } catch (e) {
      list.push({ ok: false, error: String(e && e.message) });
    }
  };
  for (const c of req.verify || []) {
    verdict(out.verify, () => new Webhook(c.secret).verify(Buffer.from(c.payload_b64, "base64"), c.headers));
  }
  for (const c of req.sign || []) {
    const payload = Buffer.from(c.payload_b64, "base64");
    out.sign.push(new Webhook(c.secret).sign(c.id, new Date(c.timestamp * 1000), payload));
  }
  for (const c of req.ed25519_verify || []) {
    verdict(out.ed25519_verify, () => verifyV1a(c.jwk, c.headers, Buffer.from(c.payload_b64, "base64")));
  }
  for (const c of req.ed25519_sign || []) {
    const key = crypto.createPrivateKey({ key: c.jwk, format: "jwk" });
    const content = Buffer.concat([Buffer.from(`${c.id}.${c.timestamp}.`), Buffer.from(c.payload_b64, "base64")]);
    out.ed25519_sign.push("v1a," + crypto.sign(null, content, key).toString("base64"));
  }
  process.stdout.write(JSON.stringify(out));
});
