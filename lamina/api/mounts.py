"""The services mounted on the API's port, asked in mount order before the Lambda routes.

A request goes to the first mount whose selector picks it. Asking every selector cost a
warm invoke ~10 µs (16 predicates, several with a regex over ``Authorization``), so the
table keeps the union of the mounts' declared :class:`Reach` and asks no selector about a
request that union rules out: the answer would have been "none" anyway. Whatever a reach
admits is decided by the selectors, in order, exactly as before; one mount without a
declared reach makes the table ask every selector about every request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lamina.api.auth import Authenticator
from lamina.services.protocol.errors import Protocol
from lamina.services.protocol.reach import Reach, union
from lamina.services.protocol.routing import Handler
from lamina.wire.http import Request

# What selects a mounted handler's requests: a path prefix, or a predicate (e.g. on
# X-Amz-Target). The handlers are other components' (function URLs, S3, SQS, ...).
Selector = str | Callable[[Request], bool]


@dataclass(frozen=True, slots=True)
class Mounted:
    """One mount: its selector, handler, verifier (None: not verified) and protocol."""

    select: Selector
    handler: Handler
    auth: Authenticator | None
    protocol: Protocol

    def picks(self, req: Request) -> bool:
        select = self.select
        return req.path.startswith(select) if isinstance(select, str) else select(req)


class MountTable:
    """The mounts in order, and what all of them together can pick."""

    __slots__ = ("_open", "_reach", "entries")

    def __init__(self) -> None:
        self.entries: list[Mounted] = []
        # What every mount can pick, and what those answered without a signature check can.
        self._reach = _Union()
        self._open = _Union()

    def add(self, mount: Mounted, reach: Reach | None) -> None:
        """Append ``mount``; ``reach`` must admit every request its selector picks (a
        string selector's reach is its prefix, whatever is passed)."""
        self.entries.append(mount)
        if isinstance(mount.select, str):
            reach = Reach(paths=(mount.select,))
        self._reach.add(reach)
        if mount.auth is None:
            self._open.add(reach)

    def pick(self, req: Request) -> Mounted | None:
        """The first mount that picks ``req`` (None: the Lambda routes answer it)."""
        if not self._reach.admits(req):
            return None
        return self.walk(req)

    def walk(self, req: Request) -> Mounted | None:
        """:meth:`pick` asking every selector (what it must always agree with)."""
        for mount in self.entries:
            if mount.picks(req):
                return mount
        return None

    def unverified(self, req: Request) -> bool:
        """Whether a mount that checks no signature picks ``req`` (function URLs, the
        console, the metrics scrape: they authenticate their own way)."""
        if not self._open.admits(req):
            return False
        return any(m.auth is None and m.picks(req) for m in self.entries)


class _Union:
    """The union of the reaches added so far; once one is None, it admits everything."""

    __slots__ = ("_parts", "_reach")

    def __init__(self) -> None:
        self._parts: list[Reach] | None = []
        self._reach: Reach | None = Reach()

    def add(self, reach: Reach | None) -> None:
        if reach is None or self._parts is None:
            self._parts = self._reach = None
            return
        self._parts.append(reach)
        self._reach = union(self._parts)

    def admits(self, req: Request) -> bool:
        reach = self._reach
        return reach is None or reach.admits(req)
