"""Schedules: EventBridge-style rules with ``rate(...)`` and ``cron(...)`` expressions."""
