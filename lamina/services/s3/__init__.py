"""An embedded S3-compatible object store (path-style REST-XML), durable on disk."""
