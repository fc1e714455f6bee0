"""An embedded S3-compatible object store (path-style) with bucket notifications."""
