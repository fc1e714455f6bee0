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

    __slots__ = ("_reach", "_reaches", "entries")

    def __init__(self) -> None:
        self.entries: list[Mounted] = []
        self._reaches: list[Reach] | None = []  # None once a mount declared none
        self._reach: Reach | None = Reach()  # their union; None: ask every selector

    def add(self, mount: Mounted, reach: Reach | None) -> None:
        """Append ``mount``; ``reach`` must admit every request its selector picks (a
        string selector's reach is its prefix, whatever is passed)."""
        self.entries.append(mount)
        if isinstance(mount.select, str):
            reach = Reach(paths=(mount.select,))
        if reach is None or self._reaches is None:
            self._reaches = self._reach = None
            return
        self._reaches.append(reach)
        self._reach = union(self._reaches)

    def pick(self, req: Request) -> Mounted | None:
        """The first mount that picks ``req`` (None: the Lambda routes answer it)."""
        reach = self._reach
        if reach is not None and not reach.admits(req):
            return None
        return self.walk(req)

    def walk(self, req: Request) -> Mounted | None:
        """:meth:`pick` asking every selector (what it must always agree with)."""
        for mount in self.entries:
            if mount.picks(req):
                return mount
        return None
