"""Errors of ``lamina up``: all are :class:`~lamina.errors.LaminaError`, so the CLI prints them.

::

    LaminaError
    └── SamError                 anything ``lamina up`` refuses or fails at
        ├── TemplateError          the template cannot be read, or says something impossible
        ├── BuildError             a function's package could not be built
        └── DeployError            Lamina refused a change (the message names the resource)
"""

from __future__ import annotations

from lamina.errors import LaminaError


class SamError(LaminaError):
    """Base of the errors ``lamina up`` raises on purpose."""


class TemplateError(SamError):
    """Raised when a template is malformed, or an intrinsic or parameter cannot be resolved."""


class BuildError(SamError):
    """Raised when a function's package cannot be built (pip, npm or cargo failed, no code)."""


class DeployError(SamError):
    """Raised when Lamina refuses a create, update or delete; names the resource."""
