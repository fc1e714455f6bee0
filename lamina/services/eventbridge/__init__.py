"""EventBridge's API (JSON 1.1): schedule and event-pattern rules, their targets, PutEvents."""
