"""Lamina's one error hierarchy.

Every error a caller can see knows its error code and its HTTP status; one module,
:mod:`lamina.services.protocol.errors`, turns them into answers in the caller's protocol
(Lambda's REST-JSON, JSON 1.0/1.1, query XML, S3's REST-XML)::

    LaminaError
    ├── ApiError                       errors with a Lambda-shaped HTTP answer
    │   ├── InvalidParameterValue        400
    │   ├── InvalidRequestContent        400
    │   ├── AccessDenied                 403
    │   ├── MissingAuthenticationToken   403 (unsigned request, keys configured)
    │   ├── IncompleteSignature          403 (malformed SigV4 Authorization)
    │   ├── UnrecognizedClient           403 (unknown access key)
    │   ├── InvalidSignature             403 (bad signature, expired or skewed clock)
    │   ├── ResourceNotFound             404
    │   ├── UnknownOperation             404 (no such path or method)
    │   ├── ResourceConflict             409
    │   ├── PreconditionFailed           412
    │   ├── RequestTooLarge              413
    │   ├── UnsupportedMediaType         415
    │   ├── TooManyRequests              429 (with a Reason)
    │   ├── ServiceError                 500
    │   │   ├── NodeLost                   500 (the cluster node running it died)
    │   │   └── NodeLeaving                500 (the node is draining; placed elsewhere)
    │   ├── InvalidZipFile               502
    │   └── InvalidRuntime               502
    ├── AwsServiceError                an emulated AWS service's error: its code, status
    │   └── S3Error                      S3's REST-XML error, naming the resource
    ├── ConfigError                    bad settings at start-up
    ├── SandboxError                   an environment could not be created or controlled
    ├── RuntimeProtocolError           a runtime process broke the Runtime API contract
    └── HttpParseError                 bytes on a connection are not HTTP/1.1
                                       (defined in :mod:`lamina.wire.http`)

Errors *inside* a function (a handler raising, a timeout, an OOM) are not exceptions of
the platform: they are results, see :class:`lamina.models.invocation.FunctionError`.
"""

from __future__ import annotations

# Marks a constraint message that shows no value (InvalidParameterValue.constraint).
_UNSHOWN = object()


class LaminaError(Exception):
    """Base of every error Lamina raises on purpose."""


class ApiError(LaminaError):
    """Raised when a request must be answered with a Lambda-shaped error."""

    error_type: str = "ServiceException"
    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameterValue(ApiError):
    """Raised when a request field is out of range or malformed."""

    error_type = "InvalidParameterValueException"
    status = 400

    @classmethod
    def constraint(cls, where: str, rule: str, value: object = _UNSHOWN) -> InvalidParameterValue:
        """Lambda's words for a member that breaks its model's ``rule``: ``1 validation
        error detected: Value 'v' at 'where' failed to satisfy constraint: <rule>`` (no
        value where Lambda shows none)."""
        shown = "" if value is _UNSHOWN else f" '{value}'"
        return cls(
            f"1 validation error detected: Value{shown} at '{where}' failed to satisfy "
            f"constraint: {rule}"
        )


class InvalidRequestContent(ApiError):
    """Raised when a request body cannot be parsed (bad JSON, wrong shape)."""

    error_type = "InvalidRequestContentException"
    status = 400


class AccessDenied(ApiError):
    """Raised when a request is unsigned or wrongly signed while keys are configured."""

    error_type = "AccessDeniedException"
    status = 403


class MissingAuthenticationToken(ApiError):
    """Raised when a request carries no signature while access keys are configured."""

    error_type = "MissingAuthenticationTokenException"
    status = 403


class IncompleteSignature(ApiError):
    """Raised when a SigV4 Authorization header or presigned query is malformed."""

    error_type = "IncompleteSignatureException"
    status = 403


class UnrecognizedClient(ApiError):
    """Raised when a request is signed with an access key Lamina does not know."""

    error_type = "UnrecognizedClientException"
    status = 403


class InvalidSignature(ApiError):
    """Raised when a signature does not match, has expired, or its clock is too far off."""

    error_type = "InvalidSignatureException"
    status = 403


class ResourceNotFound(ApiError):
    """Raised when a function, version or alias does not exist."""

    error_type = "ResourceNotFoundException"
    status = 404


class ProvisionedConcurrencyConfigNotFound(ApiError):
    """Raised when a function has no provisioned concurrency on the qualifier asked for."""

    error_type = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404


class UnknownOperation(ApiError):
    """Raised when no operation serves a request's method and path."""

    error_type = "UnknownOperationException"
    status = 404


class MethodNotAllowed(UnknownOperation):
    """Raised when a path is served, but not with the request's method (405 + ``Allow``)."""

    status = 405

    def __init__(self, message: str, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class ResourceConflict(ApiError):
    """Raised when a resource already exists or is in a state that forbids the call."""

    error_type = "ResourceConflictException"
    status = 409


class PreconditionFailed(ApiError):
    """Raised when a RevisionId does not match the current one."""

    error_type = "PreconditionFailedException"
    status = 412


class RequestTooLarge(ApiError):
    """Raised when a payload is over Lambda's limit (6 MB sync, 1 MB async)."""

    error_type = "RequestTooLargeException"
    status = 413


class UnsupportedMediaType(ApiError):
    """Raised when a body has a content type the operation does not accept."""

    error_type = "UnsupportedMediaTypeException"
    status = 415


class TooManyRequests(ApiError):
    """Raised when an invoke would exceed account or reserved concurrency."""

    error_type = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str, reason: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


class ServiceError(ApiError):
    """Raised when Lamina itself failed; the caller may retry."""

    error_type = "ServiceException"
    status = 500


class NodeLost(ServiceError):
    """Raised when the cluster node running an invoke died or its connection ended."""


class NodeLeaving(ServiceError):
    """Raised when an invoke reached a cluster node that is leaving (it did not run; the
    control plane places it on another node)."""

    error_type = "NodeLeaving"


class InvalidZipFile(ApiError):
    """Raised when a code package is not a zip, escapes its root or unpacks too large."""

    error_type = "InvalidZipFileException"
    status = 502


class InvalidRuntime(ApiError):
    """Raised when a runtime is unknown or has no interpreter on this host."""

    error_type = "InvalidRuntimeException"
    status = 502


class AwsServiceError(LaminaError):
    """Raised by an emulated AWS service (SQS, EventBridge, ...) to answer with its own error.

    ``code`` is the service's error code as its JSON protocol names it; ``query_code`` the
    older code the query protocol and the ``x-amzn-query-error`` header carry (SQS keeps
    both). How it is rendered depends on the protocol the request came in.
    """

    def __init__(
        self, code: str, message: str, status: int = 400, query_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.query_code = query_code


class S3Error(AwsServiceError):
    """Raised by the S3-compatible service; its answer names the ``resource`` it concerns."""

    def __init__(self, code: str, message: str, status: int, resource: str = "") -> None:
        super().__init__(code, message, status)
        self.resource = resource


class ConfigError(LaminaError):
    """Raised at start-up when settings are inconsistent or a path is unusable."""


class SandboxError(LaminaError):
    """Raised when an execution environment cannot be created, frozen, thawed or killed."""


class RuntimeProtocolError(LaminaError):
    """Raised when a runtime process breaks the Runtime API contract."""
