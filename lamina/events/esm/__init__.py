"""SQS event source mappings: configuration, operations, and the pollers that invoke."""
