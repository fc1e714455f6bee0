"""IAM's error names and statuses (query protocol: ``<Error><Code>`` in an ErrorResponse)."""

from __future__ import annotations

from lamina.errors import ApiError


class NoSuchEntity(ApiError):
    """Raised when a role, policy or attachment does not exist."""

    error_type = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(ApiError):
    """Raised when creating a role or policy whose name is taken."""

    error_type = "EntityAlreadyExists"
    status = 409


class DeleteConflict(ApiError):
    """Raised when deleting a role that still has policies, or a policy still attached."""

    error_type = "DeleteConflict"
    status = 409


class IamValidationError(ApiError):
    """Raised when a parameter breaks IAM's constraints (names, paths, lengths)."""

    error_type = "ValidationError"
    status = 400


class LimitExceeded(ApiError):
    """Raised past IAM's quotas (10 managed policies per role)."""

    error_type = "LimitExceeded"
    status = 409
