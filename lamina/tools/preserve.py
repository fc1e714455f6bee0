"""Leave a function exactly as it was found: snapshot, guarded changes, restore, verify.

The tools change a function while they measure it (its memory size; an environment
variable that forces cold starts). :class:`Preserved` records the configuration first,
makes every change through itself with the ``RevisionId`` it last saw (so a change made by
someone else meanwhile is detected, never overwritten), and on the way out — normal end,
error or Ctrl-C — puts the memory size and the environment back, then reads the
configuration again and checks every field that matters against the snapshot.

Only ``RevisionId`` and ``LastModified`` differ afterwards: Lambda gives every update a
new revision, even one that restores the old values.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

from lamina.client.http import ClientError
from lamina.client.lambda_api import LambdaClient
from lamina.errors import LaminaError

# What a restored function must match; CodeSha256 proves the code was never touched.
COMPARED_FIELDS = (
    "MemorySize",
    "Environment",
    "Timeout",
    "Description",
    "Handler",
    "Runtime",
    "Role",
    "EphemeralStorage",
    "Architectures",
    "Layers",
    "LoggingConfig",
    "SnapStart",
    "CodeSha256",
)


class ConcurrentChange(LaminaError):
    """Raised when someone else changed the function while a tool was measuring it."""


def variables(config: dict[str, Any]) -> dict[str, str]:
    env = config.get("Environment") or {}
    return dict(env.get("Variables") or {})


def differences(
    before: dict[str, Any], after: dict[str, Any], ignore: tuple[str, ...] = ()
) -> list[str]:
    """Fields of :data:`COMPARED_FIELDS` whose values differ (a missing one is ``None``)."""
    out: list[str] = []
    for name in COMPARED_FIELDS:
        if name in ignore:
            continue
        old, new = before.get(name), after.get(name)
        if name == "Environment":
            old, new = variables(before), variables(after)
        if old != new:
            out.append(f"{name}: {old!r} -> {new!r}")
    return out


@dataclass(slots=True)
class RestoreReport:
    """How the function was left."""

    restored: bool = False
    verified: bool = False
    memory_mb: int | None = None  # the memory size it was left at
    applied: bool = False  # left at a recommended size on purpose
    problems: list[str] = field(default_factory=list)


class Preserved:
    """Changes to one function that are undone on exit; see the module docstring."""

    def __init__(self, api: LambdaClient, name: str) -> None:
        self.api = api
        self.name = name
        self.snapshot: dict[str, Any] = {}
        self.report = RestoreReport()
        self._revision: str | None = None
        self._changed = False
        self._final_memory: int | None = None

    @property
    def memory_mb(self) -> int:
        return int(self.snapshot["MemorySize"])

    @property
    def environment(self) -> dict[str, str]:
        return variables(self.snapshot)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the function, failing if anyone else changed it since our last look."""
        try:
            config = self.api.update_configuration(self.name, changes, self._revision)
        except ClientError as exc:
            if exc.error_type == "PreconditionFailedException":
                raise ConcurrentChange(
                    f"{self.name} was changed by someone else while it was being measured; "
                    "it is left as they set it"
                ) from exc
            raise
        self._changed = True
        self._revision = str(config.get("RevisionId") or "") or None
        return config

    def keep_memory(self, memory_mb: int) -> None:
        """Leave the function at ``memory_mb`` (``--apply``) instead of its old size."""
        self._final_memory = memory_mb

    def __enter__(self) -> Preserved:
        self.snapshot = self.api.get_configuration(self.name)
        self._revision = self.snapshot.get("RevisionId")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, ConcurrentChange):
            self.report.problems.append(str(exc))
            return
        with _sigint_deferred():
            self._restore()

    def _restore(self) -> None:
        report = self.report
        memory = self._final_memory if self._final_memory is not None else self.memory_mb
        report.applied = self._final_memory is not None and self._final_memory != self.memory_mb
        if self._changed or report.applied:
            try:
                self.update({"MemorySize": memory, "Environment": {"Variables": self.environment}})
            except (ClientError, ConcurrentChange) as exc:
                report.problems.append(f"could not restore {self.name}: {exc}")
                return
        report.restored = True
        try:
            after = self.api.get_configuration(self.name)
        except ClientError as exc:
            report.problems.append(f"could not read {self.name} back: {exc}")
            return
        report.memory_mb = int(after.get("MemorySize", 0))
        ignore = ("MemorySize",) if report.applied else ()
        report.problems.extend(differences(self.snapshot, after, ignore))
        if report.applied and report.memory_mb != memory:
            report.problems.append(f"MemorySize: expected {memory}, found {report.memory_mb}")
        report.verified = not report.problems


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Let a restore finish when Ctrl-C is pressed again; re-raise it afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[bool] = []

    def note(signum: int, frame: FrameType | None) -> None:
        pressed.append(True)
        print("\nrestoring the function first; one moment", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt
