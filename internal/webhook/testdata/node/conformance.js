// Test helper for internal/webhook: checks our signatures with the
// standardwebhooks reference library, and signs messages for our Verify.
//
// stdin:  {"verify": [{"secret", "headers": {name: value}, "payload_b64"}],
//          "sign":   [{"secret", "id", "timestamp", "payload_b64"}]}
// stdout: {"verify": [{"ok": true} | {"ok": false, "error": "..."}],
//          "sign":   ["v1,..."]}
"use strict";
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const req = JSON.parse(input);
  const out = { verify: [], sign: [] };
  for (const c of req.verify || []) {
    try {
      new Webhook(c.secret).verify(Buffer.from(c.payload_b64, "base64"), c.headers);
      out.verify.push({ ok: true });
    } catch (e) {
      out.verify.push({ ok: false, error: String(e && e.message) });
    }
  }
  for (const c of req.sign || []) {
    const payload = Buffer.from(c.payload_b64, "base64");
    out.sign.push(new Webhook(c.secret).sign(c.id, new Date(c.timestamp * 1000), payload));
  }
  process.stdout.write(JSON.stringify(out));
});
