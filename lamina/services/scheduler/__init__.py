"""EventBridge Scheduler (``boto3.client("scheduler")``): schedules run by Lamina's runner."""
