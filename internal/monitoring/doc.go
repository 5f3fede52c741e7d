// Package monitoring serves the asynqmon queue dashboard at /monitoring/
// behind the operator token.
//
// Operators authenticate with "Authorization: Bearer $OPERATOR_TOKEN", or,
// from a browser, with HTTP basic auth using any user name and the token as
// the password. The dashboard is read-only unless configured otherwise, and
// task payloads and results are shown redacted: only the ids our payloads
// carry (report_id, client_id, delivery_id, request_id) are visible.
package monitoring
