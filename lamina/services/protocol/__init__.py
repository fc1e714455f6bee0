"""What every AWS-compatible service shares: request parsing, error rendering, responses."""
