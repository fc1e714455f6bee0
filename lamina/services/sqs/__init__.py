"""An embedded SQS-compatible queue service (JSON and query protocols), durable in SQLite."""
