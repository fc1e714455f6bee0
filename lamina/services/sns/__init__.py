"""Amazon SNS: topics, subscriptions to functions and queues, publishing (fan-out)."""
