// Package reports is the report resource and the vocabulary around it: its
// lifecycle, its webhook deliveries, the JSON shape the API returns and
// webhooks carry, and the types the stores and the API share (principals,
// idempotency keys, list filters), so that neither has to import the other.
package reports
