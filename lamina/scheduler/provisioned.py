"""Provisioned concurrency: keep N environments of a version initialised ahead of invokes.

One :class:`Provisioner` per scheduler carries out the configurations
:class:`lamina.functions.Functions` stores (:mod:`lamina.models.provisioned`). For each
it starts the missing environments (INIT with ``AWS_LAMBDA_INITIALIZATION_TYPE=
provisioned-concurrency``), reports ``IN_PROGRESS`` until all are up, then ``READY``
(``FAILED`` with ``FUNCTION_ERROR_INIT_FAILURE`` when an INIT fails), replaces one that
dies, and retires them when the configuration goes. The pool
(:mod:`lamina.scheduler.pool`) hands them to invokes of their version first and never
reclaims them for idleness.

Each configuration's READY span is reported to ``on_span`` when it ends (the billing
ledger charges the configured concurrency for it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lamina.billing.provisioned import ProvisionedSpan
from lamina.models.function import FunctionConfig
from lamina.models.provisioned import FAILED, IN_PROGRESS, INIT_FAILURE, READY, Allocation
from lamina.scheduler.pool import EnvSlot, EnvState, Pool

log = logging.getLogger("lamina.scheduler")

# Start one environment of ``cfg`` for configuration ``tag``: False if its INIT failed.
StartOne = Callable[[FunctionConfig, str], Awaitable[bool]]
# Destroy an idle environment the pool has let go.
Retire = Callable[[EnvSlot], None]


@dataclass(slots=True)
class _Config:
    cfg: FunctionConfig
    qualifier: str
    requested: int
    status: str = IN_PROGRESS
    reason: str = ""
    ready_since: float | None = None  # epoch s: when it went READY (billing)
    filling: asyncio.Task[None] | None = field(default=None, repr=False)


def span_of(current: _Config, ready_at: float, ended_at: float) -> ProvisionedSpan:
    cfg = current.cfg
    return ProvisionedSpan(
        cfg.name,
        current.qualifier,
        cfg.version,
        cfg.architecture,
        cfg.memory_mb,
        current.requested,
        ready_at,
        ended_at,
    )


def tag_of(function: str, qualifier: str) -> str:
    return f"{function}:{qualifier}"


class Provisioner:
    """The configurations in effect and their environments (see the module's docstring)."""

    def __init__(
        self,
        pool: Pool,
        start_one: StartOne,
        retire: Retire,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self._start_one = start_one
        self._retire = retire
        self._clock = clock
        self._configs: dict[str, _Config] = {}
        # Told of each READY span once it ends (a deletion, a change, the server's stop):
        # the ledger bills the configured concurrency for it.
        self.on_span: Callable[[ProvisionedSpan], None] | None = None

    # -- what the API asks ----------------------------------------------------------------
    def apply(self, function: str, qualifier: str, cfg: FunctionConfig | None, n: int) -> None:
        """Keep ``n`` environments of ``cfg`` for ``function:qualifier``; None or 0: none."""
        tag = tag_of(function, qualifier)
        current = self._configs.get(tag)
        if cfg is None or n <= 0:
            if current is not None:
                self._end_span(current)
                del self._configs[tag]
                if current.filling is not None:
                    current.filling.cancel()
            self._let_go(tag, keep=0)
            return
        if current is not None and current.cfg.cache_key != cfg.cache_key:
            self.apply(function, qualifier, None, 0)  # another version: start afresh
            current = None
        if current is None:
            current = self._configs[tag] = _Config(cfg, qualifier, n)
        else:
            self._end_span(current)  # the span so far, at the old concurrency
            current.requested = n
            current.status, current.reason = IN_PROGRESS, ""
        self._let_go(tag, keep=n)
        self._fill(tag)

    def allocation(self, function: str, qualifier: str) -> Allocation:
        tag = tag_of(function, qualifier)
        current = self._configs.get(tag)
        if current is None:
            return Allocation()
        live = [s for s in self.pool.provisioned(tag) if s.state is not EnvState.STARTING]
        available = sum(1 for s in live if s.is_idle())
        return Allocation(len(live), available, current.status, current.reason)

    def sample(self, slot: EnvSlot, spillover: bool) -> tuple[int, int]:
        """(configured concurrency, environments busy now) of the configuration an invoke
        given ``slot`` belongs to — a provisioned one's, or for a spillover the
        configuration of its version — as Lambda samples them per invocation; (0, 0) for
        an invoke of a version without one."""
        tag = slot.provisioned
        if tag is None:
            if not spillover:
                return 0, 0
            # Few configurations: a walk, and only for invokes that spilled over.
            tag = next((t for t, c in self._configs.items() if c.cfg.cache_key == slot.key), None)
            if tag is None:
                return 0, 0
        current = self._configs.get(tag)
        if current is None:
            return 0, 0
        return current.requested, self.pool.provisioned_busy(tag)

    # -- what the scheduler tells ---------------------------------------------------------
    def lost(self, slot: EnvSlot) -> None:
        """A provisioned environment ended (crash, timeout, extension failure): replace it."""
        tag = slot.provisioned
        if tag is not None and tag in self._configs:
            self._fill(tag)

    def close(self) -> None:
        """The server stops: end every READY span now."""
        for current in self._configs.values():
            self._end_span(current)
            if current.filling is not None:
                current.filling.cancel()

    # -- internals ------------------------------------------------------------------------
    def _let_go(self, tag: str, keep: int) -> None:
        """Give up environments of ``tag`` beyond ``keep`` (idle ones are retired)."""
        slots = self.pool.provisioned(tag)
        # Idle ones first: they go at once; a busy one finishes its event as on-demand.
        slots.sort(key=lambda s: not s.is_idle())
        for slot in slots[: max(0, len(slots) - keep)]:
            if self.pool.unprovision(slot):
                self._retire(slot)

    def _fill(self, tag: str) -> None:
        current = self._configs[tag]
        if current.filling is None or current.filling.done():
            current.filling = asyncio.get_running_loop().create_task(self._filling(tag))

    async def _filling(self, tag: str) -> None:
        while (current := self._configs.get(tag)) is not None:
            missing = current.requested - len(self.pool.provisioned(tag))
            if missing <= 0:
                if current.status != READY:
                    current.status, current.reason = READY, ""
                    current.ready_since = self._clock()
                return
            started = await asyncio.gather(
                *(self._start_one(current.cfg, tag) for _ in range(missing)),
                return_exceptions=True,
            )
            for result in started:
                if isinstance(result, Exception):  # a bug or the sandbox: said, and FAILED
                    log.error("provisioned concurrency %s: a start failed: %s", tag, result)
            if self._configs.get(tag) is not current:
                return  # deleted or replaced meanwhile
            if not all(result is True for result in started):
                log.warning("provisioned concurrency %s: an INIT failed", tag)
                self._end_span(current)
                current.status, current.reason = FAILED, INIT_FAILURE
                return

    def _end_span(self, current: _Config) -> None:
        since, current.ready_since = current.ready_since, None
        if since is None:
            return
        now = self._clock()
        if self.on_span is not None:
            self.on_span(span_of(current, since, now))

    def open_spans(self) -> list[ProvisionedSpan]:
        """The spans going on now, as if they ended now (what ``lamina cost`` adds to the
        ledger's ended ones)."""
        now = self._clock()
        return [
            span_of(c, c.ready_since, now)
            for c in self._configs.values()
            if c.ready_since is not None
        ]
