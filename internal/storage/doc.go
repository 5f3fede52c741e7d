// Package storage keeps report files in S3-compatible object storage (AWS S3,
// MinIO, the Versity S3 gateway): streamed multipart uploads that record the
// file's sha256, presigned downloads and idempotent deletes.
package storage
