// Package seed generates realistic, varied demo orders and loads them
// through the same append path as the API, so demo data exercises the whole
// read model: many customers and merchants, several currencies, every event
// type, non-ASCII text and out-of-order arrival.
package seed
