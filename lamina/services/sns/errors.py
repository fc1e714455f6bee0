"""SNS's error answers, as its query protocol names them (codes from botocore's model)."""

from __future__ import annotations

from lamina.errors import AwsServiceError


def not_found(what: str = "Topic does not exist") -> AwsServiceError:
    """Raised when a topic or subscription named by ARN does not exist."""
    return AwsServiceError("NotFound", what, 404)


def invalid_parameter(message: str) -> AwsServiceError:
    """Raised for a malformed or missing parameter (``Invalid parameter: <name>``)."""
    return AwsServiceError("InvalidParameter", message, 400)


def invalid_value(message: str) -> AwsServiceError:
    """Raised for a parameter value SNS refuses (message attributes, mostly)."""
    return AwsServiceError("ParameterValueInvalid", message, 400)


def limit_exceeded(code: str, message: str) -> AwsServiceError:
    """Raised past one of SNS's quotas (``SubscriptionLimitExceeded``, ...; 403 as AWS)."""
    return AwsServiceError(code, message, 403)


def batch_error(code: str, message: str) -> AwsServiceError:
    """Raised for a malformed ``PublishBatch`` as a whole (empty, too many, duplicate ids)."""
    return AwsServiceError(code, message, 400)
