"""What the control plane's write requests parse into (pure values).

:mod:`lamina.api.bodies` builds these from request bodies at the edge;
:mod:`lamina.functions` applies them. They live here so the core never imports the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.models.function import FunctionConfig


@dataclass(frozen=True, slots=True)
class CodeRef:
    """Where a package comes from: inline bytes, or an object in the code bucket folder."""

    zip_file: bytes | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """CreateFunction: the configuration, where its code is, and what to do with it."""

    config: FunctionConfig  # code fields are placeholders until the package is stored
    code: CodeRef
    publish: bool
    tags: dict[str, str]
    layers: tuple[str, ...] | None = None  # layer version ARNs, resolved by Functions


@dataclass(frozen=True, slots=True)
class CodeUpdate:
    """UpdateFunctionCode: the new package and how to apply it."""

    code: CodeRef
    architecture: str | None
    publish: bool
    dry_run: bool
    revision_id: str | None
