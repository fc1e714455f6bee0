"""SQS errors: the JSON protocol's code (the shape name) and the query protocol's legacy code."""

from __future__ import annotations

from lamina.errors import AwsServiceError

# JSON code -> query-protocol code, as SQS sends them in x-amzn-query-error / XML.
_QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
}


def sqs_error(code: str, message: str, status: int = 400) -> AwsServiceError:
    """Raised by the service; rendered by either protocol."""
    return AwsServiceError(code, message, status, _QUERY_CODES.get(code, code))


def not_found() -> AwsServiceError:
    return sqs_error("QueueDoesNotExist", "The specified queue does not exist.")


def invalid_parameter(name: str, value: object, reason: str) -> AwsServiceError:
    return sqs_error(
        "InvalidParameterValue",
        f"Value {value} for parameter {name} is invalid. Reason: {reason}",
    )
