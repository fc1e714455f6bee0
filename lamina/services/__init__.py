"""AWS-compatible services served on Lamina's port (S3, SQS, EventBridge, IAM, CloudWatch Logs,
CloudWatch metrics, Step Functions), each a package on one shared protocol layer.

Services hold state and answer API calls; what connects them to functions (notifications,
event source mappings, schedules firing) lives in ``lamina.events``.
"""
