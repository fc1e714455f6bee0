"""Bucket notifications to functions: embedded buckets' events, and external stores' (webhook,
queue relay). The S3-compatible service itself is :mod:`lamina.services.s3`."""
