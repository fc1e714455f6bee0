"""The stamps every write puts on a function version: a RevisionId and a LastModified.

Kept apart from the store so the API can stamp a configuration before saving it, and
tests can pass a fixed time instead of sleeping.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from lamina.models.function import FunctionConfig


def new_revision_id() -> str:
    """A fresh RevisionId; Lambda's are UUID4 strings too."""
    return str(uuid.uuid4())


def now_lambda_timestamp(now: float | None = None) -> str:
    """Lambda's LastModified format, e.g. ``2024-01-01T12:00:00.000+0000`` (UTC, ms)."""
    at = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def stamped(cfg: FunctionConfig, now: float | None = None) -> FunctionConfig:
    """The configuration with a new RevisionId and LastModified, as after any change."""
    return cfg.with_changes(revision_id=new_revision_id(), last_modified=now_lambda_timestamp(now))
