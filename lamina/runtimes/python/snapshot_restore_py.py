"""Runtime hooks for SnapStart, importable as ``snapshot_restore_py`` in every Python function.

Lambda's Python runtimes ship the ``snapshot-restore-py`` library; this module offers the
same public API, so code written for SnapStart runs unchanged on Lamina::

    from snapshot_restore_py import register_before_snapshot, register_after_restore

    @register_before_snapshot
    def close_connections(): ...

    register_after_restore(reconnect, "db.example", port=5432)

Lamina's zygote runs the before-snapshot hooks once, after INIT and before it forks any
environment, in the *reverse* order of registration; each forked environment runs the
after-restore hooks in the order of registration before it asks for its first event. Both
registries are plain lists of ``(callable, args, kwargs)``, so the runtime also runs the
hooks of a copy of the PyPI package bundled with the function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_before_snapshot: list[Hook] = []
_after_restore: list[Hook] = []


def register_before_snapshot(
    func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Callable[..., Any]:
    """Run ``func(*args, **kwargs)`` before the snapshot; usable as a decorator."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(
    func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Callable[..., Any]:
    """Run ``func(*args, **kwargs)`` in each environment restored from the snapshot."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[Hook]:
    """The registered before-snapshot hooks, in registration order (the live list)."""
    return _before_snapshot


def get_after_restore() -> list[Hook]:
    """The registered after-restore hooks, in registration order (the live list)."""
    return _after_restore
