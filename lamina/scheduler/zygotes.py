"""Zygotes per function version: Lamina's SnapStart.

A zygote is made on the first cold start that wants one (INIT runs once, there), every
later cold start of the same code and configuration forks from it, and it is stopped when
its function version is retired (code or configuration changed, function deleted) or has
not been forked from for ``settings.zygote_idle_s`` — but never while an environment it
forked is alive: the forked environments' pid namespaces are nested in the zygote's, so
stopping it would kill them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lamina.config import Settings, ZygoteMode
from lamina.errors import SandboxError
from lamina.logs import levels, lines
from lamina.logs.lines import function_log_group
from lamina.logs.store import LogStore, group_folder
from lamina.models.function import PYTHON_RUNTIMES, FunctionConfig
from lamina.models.invocation import FunctionError
from lamina.runtimes.version import RuntimeVersion
from lamina.sandbox import SandboxSpec
from lamina.sandbox.limits import Limits
from lamina.sandbox.zygote import ForkedProcess, Zygote, ZygoteHost
from lamina.scheduler import error_bodies
from lamina.scheduler.output import OutputPipe

log = logging.getLogger("lamina.scheduler")

# Said when a zygote's INIT failed without a message.
NO_MESSAGE = "the zygote failed during INIT"


def wants_zygote(cfg: FunctionConfig, mode: ZygoteMode, sandbox_supports: bool) -> bool:
    """Whether cold starts of ``cfg`` fork from a zygote (pure).

    ``snapstart`` (the default): functions with SnapStart on, every version, ``$LATEST``
    included (see ``docs/speed.md`` for why); ``python``: every Python function; ``off``.
    Only Lamina's own Python runtime has a zygote, and only a sandbox tier with cgroups and
    namespaces can keep forked environments apart.
    """
    if mode == "off" or not sandbox_supports or cfg.runtime not in PYTHON_RUNTIMES:
        return False
    return mode == "python" or cfg.snap_start


# The zygote's spec, or the INIT error Lambda reports when the function cannot start.
SpecBuilder = Callable[[FunctionConfig, str], Awaitable[SandboxSpec | FunctionError]]


@dataclass(slots=True)
class ZygoteEntry:
    """One function version's zygote, from the start of its INIT to its end."""

    key: str
    function: str
    log_stream: str
    ready: asyncio.Future[None]
    last_used: float
    zygote: Zygote | None = None
    error: FunctionError | None = None
    init_ms: float = 0.0
    children: int = 0
    retired: bool = False
    output: OutputPipe | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Active tracing: the X-Ray daemon's socket in the zygote's own namespace (the SDK's
    # socket, made during INIT, stays there in every fork), its owner id once made.
    xray: asyncio.Future[int] | None = None  # a task


class Zygotes:
    """Every zygote of one server."""

    def __init__(
        self,
        sandbox: ZygoteHost,
        settings: Settings,
        logs: LogStore,
        build: SpecBuilder,
        versions: Callable[[str], RuntimeVersion],
    ) -> None:
        self.sandbox = sandbox
        self.settings = settings
        self.logs = logs
        self._build = build
        # What INIT_START names as a runtime's version (the launcher's cache).
        self._versions = versions
        self._entries: dict[str, ZygoteEntry] = {}

    def entries(self) -> list[ZygoteEntry]:
        return list(self._entries.values())

    async def acquire(self, cfg: FunctionConfig, log_stream: str) -> tuple[ZygoteEntry, bool]:
        """The ready zygote of ``cfg`` (made now if needed) and whether this call made it.

        An entry whose INIT failed carries the error and is forgotten, so the next cold start
        tries again (as Lambda retries INIT on the next invoke).
        """
        entry = self._entries.get(cfg.cache_key)
        created = entry is None
        if entry is None:
            loop = asyncio.get_running_loop()
            entry = ZygoteEntry(
                cfg.cache_key, cfg.name, log_stream, loop.create_future(), time.monotonic()
            )
            self._entries[cfg.cache_key] = entry
            task = loop.create_task(self._start(entry, cfg))
            entry.tasks.add(task)
            task.add_done_callback(entry.tasks.discard)
        await asyncio.shield(entry.ready)
        entry.last_used = time.monotonic()
        return entry, created

    async def _start(self, entry: ZygoteEntry, cfg: FunctionConfig) -> None:
        started = time.perf_counter()

        folder = group_folder(function_log_group(cfg))

        def sink(message: str, ts: int) -> None:
            self.logs.append(folder, entry.log_stream, ts, message)

        floor = levels.application_floor(cfg)

        def output(message: str, ts: int) -> None:
            # ApplicationLogLevel applies to INIT's lines too (the JSON format only).
            if floor == levels.EVERYTHING or levels.line_level(message) >= floor:
                sink(message, ts)

        entry.output = OutputPipe(output)
        # The zygote's INIT is the version's cold start: its stream begins as one does.
        version = self._versions(cfg.runtime)
        init_start = levels.system_line(
            cfg,
            lines.init_start_line(version.name, version.arn),
            "platform.initStart",
            dict(lines.init_start_record(cfg, version.name, version.arn)),
        )
        if init_start is not None:
            sink(init_start, _now_ms())
        try:
            entry.error = await self._run_init(entry, cfg)
        except Exception as exc:
            # Whatever went wrong, the invokes waiting on this zygote must get an answer.
            log.exception("the zygote of %s could not start", cfg.name)
            entry.error = error_bodies.platform_failure(str(exc))
        entry.init_ms = (time.perf_counter() - started) * 1000
        entry.output.drain()
        error_type = None if entry.error is None else entry.error.error_type
        status = "success" if entry.error is None else "error"
        report = levels.system_line(
            cfg,
            lines.init_report_line(entry.init_ms, status, error_type),
            "platform.initReport",
            # snap-start: the zygote's own AWS_LAMBDA_INITIALIZATION_TYPE (INFO, not DEBUG).
            lines.init_report_record(entry.init_ms, status, error_type, "snap-start"),
        )
        if report is not None:
            sink(report, _now_ms())
        if entry.error is not None:
            if self._entries.get(entry.key) is entry:
                del self._entries[entry.key]
            await self._stop(entry)
        if entry.retired and entry.children <= 0:
            await self._stop(entry)  # retired while INIT ran: nobody will fork from it
        entry.ready.set_result(None)

    async def _run_init(self, entry: ZygoteEntry, cfg: FunctionConfig) -> FunctionError | None:
        """Start the zygote and wait for the end of its INIT: None when it is ready."""
        assert entry.output is not None
        read_fd = -1
        try:
            spec = await self._build(cfg, entry.log_stream)
            if isinstance(spec, FunctionError):
                return spec
            read_fd, write_fd = os.pipe()
            try:
                entry.zygote = await self.sandbox.spawn_zygote(spec, write_fd)
            finally:
                os.close(write_fd)
            entry.output.attach(read_fd)
            read_fd = -1
            message = await asyncio.wait_for(
                asyncio.shield(entry.zygote.ready), self.settings.init_timeout_s
            )
        except TimeoutError:
            return error_bodies.init_timeout(self.settings.init_timeout_s)
        except (SandboxError, OSError) as exc:
            return error_bodies.platform_failure(str(exc))
        finally:
            if read_fd >= 0:
                os.close(read_fd)
        if message.get("ready"):
            return None
        post = error_bodies.read_error_post(message.get("error"))
        return error_bodies.init_error(post, default_message=NO_MESSAGE)

    async def fork(
        self, entry: ZygoteEntry, env_id: str, limits: Limits, env: dict[str, str], stdout_fd: int
    ) -> ForkedProcess:
        """Fork an environment; ``release`` must follow when that environment is destroyed."""
        assert entry.zygote is not None
        process = await self.sandbox.fork(entry.zygote, env_id, limits, env, stdout_fd)
        entry.children += 1
        entry.last_used = time.monotonic()
        return process

    def release(self, entry: ZygoteEntry) -> None:
        entry.children -= 1
        if entry.retired and entry.children <= 0:
            self._stop_later(entry)

    def retire(self, function: str) -> None:
        """The function's code or configuration changed, or it was deleted."""
        for entry in list(self._entries.values()):
            if entry.function == function:
                self._retire(entry)

    def reap(self, now: float) -> None:
        """Stop zygotes nobody forked from for ``zygote_idle_s`` and with no live child."""
        for entry in list(self._entries.values()):
            if (
                entry.ready.done()
                and entry.children <= 0
                and now - entry.last_used >= self.settings.zygote_idle_s
            ):
                self._retire(entry)

    async def close(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        await asyncio.gather(*(self._stop(e) for e in entries), return_exceptions=True)

    def _retire(self, entry: ZygoteEntry) -> None:
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
        entry.retired = True
        if entry.children <= 0 and entry.ready.done():
            self._stop_later(entry)

    def _stop_later(self, entry: ZygoteEntry) -> None:
        task = asyncio.get_running_loop().create_task(self._stop(entry))
        entry.tasks.add(task)
        task.add_done_callback(entry.tasks.discard)

    async def _stop(self, entry: ZygoteEntry) -> None:
        zygote, entry.zygote = entry.zygote, None
        if zygote is not None:
            try:
                await zygote.close()
            except Exception:
                log.exception("could not stop the zygote of %s", entry.function)
        if entry.output is not None:
            entry.output.drain()
            entry.output.flush_partial()
            entry.output.detach()


def _now_ms() -> int:
    return int(time.time() * 1000)
