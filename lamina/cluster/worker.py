"""A node's worker: Lamina's own scheduler and sandbox, serving invokes over frames.

The node agent (:mod:`lamina.cluster.agent`, a Ray task) starts one worker process per
node (``python -m lamina.cluster.worker``). The worker owns that node's environments,
cgroups and zygotes exactly as a single-machine server does — it runs the same
:class:`~lamina.scheduler.driver.Scheduler` — and listens for the control plane on one
TCP port. Every connection must first prove it knows the cluster token (``hello``);
nothing else is read before that, and a wrong token closes the connection.

It prints ``LAMINA-WORKER <port>`` on stdout once it listens; the token comes in the
``LAMINA_CLUSTER_TOKEN`` environment variable, never on the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hmac
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from lamina.cluster.agent import DEATH_CHECK_DEADLINE_S, ask_drained, die_with
from lamina.cluster.api_relay import ApiRelay, api_address
from lamina.cluster.frames import (
    Frame,
    FrameDecoder,
    FrameError,
    NodeState,
    answer_frame,
    encode,
    state_to_json,
)
from lamina.cluster.node_envs import NodeEnv, envs_to_json, snapshot
from lamina.cluster.node_state import Shipment, ShippingLogs
from lamina.cluster.nodecode import NodeCode, PullConfig, pull_sources
from lamina.cluster.runners import Runners
from lamina.config import Settings, load_settings
from lamina.errors import ApiError, LaminaError, NodeLeaving, ServiceError
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvokeResult
from lamina.runtime_api.stream import ResponseStream
from lamina.runtimes.registry import RuntimeRegistry
from lamina.runtimes.sdk import build_python_sdk, compile_in_background, default_cache_dir
from lamina.sandbox import create_sandbox
from lamina.scheduler.driver import InvokeRequest, Scheduler
from lamina.scheduler.environment import Environment
from lamina.scheduler.pool import EnvSlot, Pool
from lamina.store.code import CodeStore
from lamina.store.codec import config_from_json
from lamina.store.optdir import LayerMerger
from lamina.triggers import known

log = logging.getLogger("lamina.cluster.worker")

HELLO_TIMEOUT_S = 10.0
# A peer that has not proved the token may not make the worker buffer more than this.
PRE_HELLO_BYTES = 64 * 1024
# Records and log lines leave in a state frame this often (when there are any): batched
# off the invokes' round trips, like one machine's ledger and log timers.
STATE_EVERY_S = 0.1
# A state frame holds at most this many records and lines: more (a busy node's 0.1 s)
# leave in several frames with invokes in between, so encoding one stalls the worker's
# loop (and decoding it the control plane's) for a bounded time: ~0.3 ms each for 64
# no-op invokes' records and lines, against ~1.4 ms for the ~370 of 0.1 s at c=8.
STATE_RECORDS_MAX = 64
STATE_LINES_MAX = 256


class Peer(asyncio.Protocol):
    """One control-plane connection: frames are handled as they are read (no reader task,
    no extra turn of the loop); nothing but ``hello`` is looked at before the token."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.authenticated = False
        # Each connection sends a configuration once (by cache key), then only its key:
        # parsing it on every invoke would cost more than the rest of the hop.
        self.configs: dict[str, FunctionConfig] = {}
        # The node's load as last sent here: an answer repeats it only when it changed.
        self.last_load: tuple[int, int, dict[str, int]] | None = None
        # Streamed invokes' gates: cleared while the control plane's reader is behind.
        self.gates: dict[int, asyncio.Event] = {}
        self._hello_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but are one.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        loop = asyncio.get_running_loop()
        self._hello_timer = loop.call_later(HELLO_TIMEOUT_S, self._no_hello)

    def _no_hello(self) -> None:
        if not self.authenticated and self.transport is not None:
            log.warning("refused a cluster connection: no hello in %.0f s", HELLO_TIMEOUT_S)
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except FrameError as exc:
            log.warning("control-plane connection dropped: %s", exc)
            self.close()
            return
        if not self.authenticated and self.decoder.buffered > PRE_HELLO_BYTES:
            log.warning("refused a cluster connection: %d bytes before a hello", len(data))
            self.close()
            return
        for frame in frames:
            if self.authenticated:
                self.worker.dispatch(frame, self)
            elif self.worker.hello(frame, self):
                self.authenticated = True
            else:
                self.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
        for gate in self.gates.values():
            gate.set()  # nobody reads: the streams run on to their end
        self.worker.peers.discard(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def load(self, pool: Pool) -> dict[str, object] | None:
        """The node's load for an answer: None when it is what this connection last heard.
        Only the load (an answer's state has no records, lines or packages to list): at
        concurrency most answers carry one. Read from the pool's tallies, compared
        before anything is built: every answer asks."""
        last = self.last_load
        if (
            last is not None
            and last[0] == pool.used_mb
            and last[1] == pool.idle_mb
            and last[2] == pool.idle_by_key
        ):
            return None
        idle = dict(pool.idle_by_key)
        self.last_load = (pool.used_mb, pool.idle_mb, idle)
        return {"used_mb": pool.used_mb, "idle_mb": pool.idle_mb, "idle": idle}

    def state(self, state: NodeState) -> None:
        """Send a ``state`` frame (records, lines and the node's load)."""
        self.last_load = (state.used_mb, state.idle_mb, state.idle)
        self.write(encode("state", {"state": state_to_json(state)}))


class Worker:
    """One node's scheduler behind an authenticated framed listener."""

    def __init__(
        self,
        settings: Settings,
        node_id: str,
        capacity_mb: int,
        cpus: float,
        token: str,
        pull: PullConfig | None = None,
        pull_credentials: tuple[str, str] = ("", ""),
    ) -> None:
        """``pull``: where this node pulls the packages it lacks (it then tells the control
        plane, which sends it none); None: the control plane pushes them."""
        self.settings = settings
        self.node_id, self.capacity_mb, self.cpus = node_id, capacity_mb, cpus
        self.envs_asked = 0  # "envs" questions answered (the views' cache keeps it low)
        # Set to leave (SIGTERM, or a "leave" frame when Ray drains the node).
        self.stopping = asyncio.Event()
        self.leave_grace_s = 900.0
        self._token = token.encode()
        self.code = CodeStore(settings.data_dir / "code")
        self.pull: NodeCode | None = None
        if pull is not None:
            self.pull = NodeCode(
                self.code,
                pull_sources(pull, pull_credentials, settings.region),
                cache_bytes=pull.cache_bytes,
                in_use=self._digests_in_use,
            )
        self.logs = ShippingLogs(settings.data_dir / "logs")
        self.shipment = Shipment(self.logs)
        self.scheduler = Scheduler(
            settings,
            create_sandbox(settings),
            RuntimeRegistry(settings.interpreters),
            self.code.unpacked,
            self.logs,
            self.shipment.record,
        )
        # The console reads recent payloads on the control plane, which keeps them.
        self.scheduler.recent = None
        # Functions with layers see them merged at /opt, as on one machine.
        self.scheduler.launcher.merge_layers = LayerMerger(
            settings.data_dir / "code" / "opt", self.code.unpacked
        ).merged
        self.scheduler.launcher.node = node_id  # its environments' log streams name it
        self.logs.owners = self._streams
        # Role credentials by configuration, as the control plane's IAM issued them.
        self._credentials: dict[str, tuple[str, str, str]] = {}
        self.scheduler.launcher.credentials = self._credentials_for
        self.peers: set[Peer] = set()
        self._newest: Peer | None = None  # where batched records and lines go
        self._have_code: set[str] = set()
        self.leaving = False
        self._inflight = 0
        self._none_inflight = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # The invokes run in kept tasks (lamina.cluster.runners), each job an invoke.
        self._runners: Runners[_Job] = Runners(self._run)
        self._loop: asyncio.AbstractEventLoop | None = None
        # Asking Ray's GCS why the node's raylet ended (held: the loop keeps weak refs).
        self.deciding: asyncio.Task[None] | None = None

    async def serve(self, host: str, port: int) -> asyncio.Server:
        self.scheduler.start()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Peer(self), host, port)
        self._tasks.add(loop.create_task(self._push_state()))
        return server

    async def leave(self, grace_s: float) -> None:
        """Leave the cluster gracefully (SIGTERM: scale-down, ``ray stop``): tell the
        control plane to place nothing more here, let the invokes in flight finish (at
        most ``grace_s``, or their functions' timeout if shorter), send what they
        produced, then stop every environment."""
        self.leaving = True
        # Its environments, with how long each has been idle: the control plane starts
        # again elsewhere only those used recently (lamina.cluster.drain).
        leaving = encode("leaving", {"envs": envs_to_json(self.environments())})
        for peer in self.peers:
            peer.write(leaving)
        # The drain plan's "stop": an idle environment runs nothing more here, so its
        # memory and processes go now (while the busy ones finish), not at the end.
        idle = self._take_idle(self.scheduler.pool.slots.values())
        stopping = asyncio.gather(*(env.destroy() for env in idle), return_exceptions=True)
        busy = [e.cfg.timeout_s for e in self.scheduler.envs.values() if not e.slot.is_idle()]
        if self._inflight:
            self._none_inflight.clear()
            try:
                await asyncio.wait_for(
                    self._none_inflight.wait(), min(grace_s, max(busy, default=0) + 1.0)
                )
            except TimeoutError:
                log.warning("leaving with %d invokes still running", self._inflight)
        for error in await stopping:
            if isinstance(error, BaseException):
                log.error("leaving: an idle environment did not stop cleanly: %r", error)
        state = self.shipment.take(self.scheduler)
        for peer in self.peers:
            peer.state(state)
        # What is written leaves before the process does (bounded: a stuck peer is left).
        for _ in range(100):
            if all(
                p.transport is None or not p.transport.get_write_buffer_size() for p in self.peers
            ):
                break
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        self._runners.close()
        for task in self._tasks:
            task.cancel()
        await self.scheduler.close()
        self.scheduler.sandbox.close()

    # -- one connection ---------------------------------------------------------------
    def hello(self, first: Frame, peer: Peer) -> bool:
        """Check a connection's first frame; welcome it if it holds the token."""
        token = str(first.header.get("token", "")).encode()
        if first.op != "hello" or not hmac.compare_digest(token, self._token):
            log.warning("refused a cluster connection: no valid token")
            return False
        state = self.shipment.take(self.scheduler, self._codes())
        peer.last_load = (state.used_mb, state.idle_mb, state.idle)
        peer.write(
            encode(
                "welcome",
                {
                    "node_id": self.node_id,
                    "capacity_mb": self.capacity_mb,
                    "cpus": self.cpus,
                    "state": state_to_json(state),
                    "pulls": self.pull is not None,
                },
            )
        )
        self.peers.add(peer)
        self._newest = peer
        return True

    def _codes(self) -> tuple[str, ...]:
        return tuple(p.stem for p in (self.code.root / "zips").glob("*.zip"))

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        # The loop is kept: asking for it costs a getpid() system call on Python 3.11.
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _run(self, job: _Job) -> Coroutine[object, object, None]:
        return self._invoke(*job)

    def dispatch(self, frame: Frame, peer: Peer) -> None:
        op, h = frame.op, frame.header
        if op == "invoke":
            ident = h.get("id")
            if not isinstance(ident, int):
                log.warning("ignored an invoke frame without an id")
                return
            # Resolved before the next frame: a later invoke may send only the key.
            key = _remember_config(peer, h, f"invoke {ident}") if "cfg" in h else h.get("key")
            room = h.get("make_room_mb")
            if isinstance(room, int) and room > 0:
                self._make_room(room)
            self._runners.start((ident, frame, peer.configs.get(str(key)), peer))
            return
        if op == "warm":
            key = _remember_config(peer, frame.header, "warm")
            cfg = peer.configs.get(key)
            if cfg is not None:
                self._spawn(self._prewarm(cfg, frame.header.get("credentials"), peer))
            return
        if op == "pause" or op == "resume":
            gate = peer.gates.get(frame.header.get("id", -1))
            if gate is not None and op == "pause":
                gate.clear()
            elif gate is not None:
                gate.set()
            return
        if op == "code":
            # Stored before the next frame is read: an invoke sent after it finds it.
            sha = str(frame.header.get("sha256", ""))
            try:
                stored = self.code.put_zip(frame.body)
            except LaminaError:
                log.exception("code package %s could not be stored on %s", sha, self.node_id)
                return
            if stored.sha256_hex != sha:
                log.error("code package %s arrived with digest %s", sha, stored.sha256_hex)
            return
        if op == "drain":
            self._spawn(self._drain(str(frame.header.get("function", "")), peer))
            return
        if op == "leave":
            # Ray drains this node (the control plane heard it): leave as on SIGTERM.
            grace = frame.header.get("grace_s")
            if isinstance(grace, int | float) and grace >= 0:
                self.leave_grace_s = min(self.leave_grace_s, float(grace))
            self.stopping.set()
            return
        if op == "envs":
            # Someone lists the cluster's environments: answered under the question's id,
            # with how many times this worker was asked (the views' cache is tested on it).
            self.envs_asked += 1
            rows = envs_to_json(self.environments())
            header = {"id": frame.header.get("id"), "envs": rows, "asked": self.envs_asked}
            peer.write(encode("envs", header))
            return
        log.warning("ignored a %r frame", op)

    def environments(self) -> tuple[NodeEnv, ...]:
        """This node's environments now (listed by the control plane's views)."""
        return snapshot(self.scheduler, time.monotonic())

    def _streams(self) -> list[tuple[str, str]]:
        """(log stream, function) of this node's environments and zygotes."""
        out = [(env.log_stream, env.cfg.name) for env in self.scheduler.envs.values()]
        if self.scheduler.zygotes is not None:
            out.extend((z.log_stream, z.function) for z in self.scheduler.zygotes.entries())
        return out

    def _make_room(self, memory_mb: int) -> None:
        """Stop least recently used idle environments until ``memory_mb`` is free of them
        (the control plane places a cold start on a node full of idle environments)."""
        oldest_first = sorted(self.scheduler.pool.slots.values(), key=lambda s: s.last_used)
        taken = self._take_idle(oldest_first, memory_mb)
        for env in taken:
            self._spawn(env.destroy())
        log.info(
            "freed %d MB of idle environments for a cold start", sum(e.cfg.memory_mb for e in taken)
        )

    def _take_idle(
        self, slots: Iterable[EnvSlot], enough_mb: int | None = None
    ) -> list[Environment]:
        """Take the idle environments among ``slots`` out of the scheduler, in order, until
        they hold ``enough_mb`` (None: all of them); the caller destroys them."""
        taken: list[Environment] = []
        held = 0
        for slot in [s for s in slots if s.is_idle()]:
            if enough_mb is not None and held >= enough_mb:
                break
            env = self.scheduler.envs.pop(slot.env_id, None)
            self.scheduler.pool.remove(slot)
            if env is not None:
                held += env.cfg.memory_mb
                taken.append(env)
        return taken

    async def _drain(self, function: str, peer: Peer) -> None:
        await self.scheduler.drain_function(function)
        # The control plane's view of this node's memory and idle environments, now.
        peer.state(self.shipment.take(self.scheduler))

    async def _ensure_code(self, cfg: FunctionConfig) -> None:
        """The configuration's package and layers are in this node's store: pulled now if
        this node pulls (a failed or mismatching fetch fails the invoke, Lambda-shaped),
        else they must have been pushed before this invoke (same connection, in order)."""
        if self.pull is not None:
            await self.pull.ensure([cfg.code_sha256, *(la.code_sha256 for la in cfg.layers)])
            return
        if not self.code.has(cfg.code_sha256):
            raise ServiceError(f"code package {cfg.code_sha256} is not on node {self.node_id}")

    def _digests_in_use(self) -> set[str]:
        """Packages of the node's live environments: the pull cache never evicts these."""
        return {
            sha
            # A snapshot (taken under the GIL): the cache calls this from its threads.
            for env in tuple(self.scheduler.envs.values())
            for sha in (env.cfg.code_sha256, *(la.code_sha256 for la in env.cfg.layers))
        }

    def _credentials_for(self, cfg: FunctionConfig) -> tuple[str, str, str]:
        return self._credentials.get(cfg.cache_key, ("", "", ""))

    async def _prewarm(self, cfg: FunctionConfig, creds: object, peer: Peer) -> None:
        """Start an idle environment of ``cfg`` (a leaving node's warm one moves here)."""
        if self.leaving:
            return
        if isinstance(creds, list) and len(creds) == 3:
            self._credentials[cfg.cache_key] = (str(creds[0]), str(creds[1]), str(creds[2]))
        try:
            if cfg.cache_key not in self._have_code:
                await self._ensure_code(cfg)
                self._have_code.add(cfg.cache_key)
            started = await self.scheduler.prewarm(cfg)
        except LaminaError:
            log.exception("could not prewarm %s on %s", cfg.name, self.node_id)
            return
        if started:
            log.info("prewarmed an environment of %s on %s", cfg.name, self.node_id)
            peer.state(self.shipment.take(self.scheduler))

    async def _invoke(
        self, ident: int, frame: Frame, cfg: FunctionConfig | None, peer: Peer
    ) -> None:
        """Run one invoke and write its answer in the same task step as the scheduler's
        result (its after-invoke step runs once the answer is out, as on one machine)."""
        self._inflight += 1
        h = frame.header
        try:
            if self.leaving:
                raise NodeLeaving(f"Node {self.node_id} is leaving the cluster.")
            if cfg is None:
                raise ServiceError(f"invoke {ident}: no configuration for {h.get('key')!r}")
            creds = h.get("credentials")
            if isinstance(creds, list) and len(creds) == 3:
                self._credentials[cfg.cache_key] = (str(creds[0]), str(creds[1]), str(creds[2]))
            if cfg.cache_key not in self._have_code:
                await self._ensure_code(cfg)
                self._have_code.add(cfg.cache_key)
            limit = h.get("stream_limit")
            # The control plane's reader sets the pace (and Lambda's bandwidth cap) there.
            stream = ResponseStream(int(limit)) if limit is not None else None
            trace = h.get("trace")
            tail = bool(h.get("tail"))
            req = InvokeRequest(
                cfg,
                frame.body,
                str(h["arn"]),
                str(h["request_id"]),
                h.get("client_context"),
                h.get("cognito_identity"),
                tail,
                # The answer carries no record (records leave in batches): the node
                # answers first and meters after, as one machine does.
                stream,
                None if trace is None else str(trace),
                known(h.get("trigger")),
            )
            if stream is None:
                result = await self.scheduler.invoke(req)
            else:
                result = await self._streamed(ident, req, stream, peer)
        except (LaminaError, KeyError, ValueError) as exc:
            if not isinstance(exc, ApiError):
                log.exception("invoke %s failed on node %s", ident, self.node_id)
                exc = ServiceError(str(exc))
            failed: dict[str, object] = {
                "id": ident,
                "error_type": exc.error_type,
                "message": exc.message,
                "status": exc.status,
                "reason": getattr(exc, "reason", None),
            }
            state = peer.load(self.scheduler.pool)
            if state is not None:
                failed["state"] = state
            peer.write(encode("failed", failed))
        else:
            fields: dict[str, object] | None = None
            if result.function_error is not None:
                fields = {"function_error": result.function_error}
            if tail:
                fields = fields or {}
                fields["log_tail"] = base64.b64encode(result.log_tail).decode()
            state = peer.load(self.scheduler.pool)
            if state is not None:
                fields = fields or {}
                fields["state"] = state
            peer.write(answer_frame(ident, result.payload, fields))
        finally:
            self._inflight -= 1
            if not self._inflight and self.leaving:
                self._none_inflight.set()

    async def _streamed(
        self, ident: int, req: InvokeRequest, stream: ResponseStream, peer: Peer
    ) -> InvokeResult:
        """Run a streamed invoke, sending ``start`` and ``chunk`` frames as the function
        writes; a ``pause`` from the control plane stops the reading here (and so, past
        the stream's high-water mark, the function)."""
        gate = peer.gates[ident] = asyncio.Event()
        gate.set()
        task = asyncio.get_running_loop().create_task(self.scheduler.invoke(req))
        try:
            await asyncio.wait((stream.started, task), return_when=asyncio.FIRST_COMPLETED)
            if stream.started.done():
                peer.write(encode("start", {"id": ident, "content_type": stream.content_type}))
                while (data := await stream.read()) is not None:
                    peer.write(encode("chunk", {"id": ident}, data))
                    await gate.wait()
            return await task
        finally:
            peer.gates.pop(ident, None)
            if not task.done():
                task.cancel()

    async def _push_state(self) -> None:
        """Records and lines leave within :data:`STATE_EVERY_S`, in frames of at most
        :data:`STATE_RECORDS_MAX` records and :data:`STATE_LINES_MAX` lines."""
        while True:
            await asyncio.sleep(STATE_EVERY_S)
            peer = self._newest
            while peer is not None and peer in self.peers and self.shipment.has_pending():
                state = self.shipment.take(
                    self.scheduler, records_max=STATE_RECORDS_MAX, lines_max=STATE_LINES_MAX
                )
                peer.state(state)
                if self.shipment.has_pending():
                    await asyncio.sleep(0)  # the invokes that arrived meanwhile go first


# An invoke as a runner takes it: its id, its frame, its configuration, its connection.
_Job = tuple[int, Frame, FunctionConfig | None, Peer]


def _remember_config(peer: Peer, header: dict[str, Any], what: str) -> str:
    """Keep the configuration a frame carries (``cfg``) under its ``key``; return the key.

    A bad configuration is logged and not kept, so the frame's work finds none."""
    key = str(header.get("key", ""))
    raw = header.get("cfg")
    if raw is not None:
        try:
            peer.configs[key] = config_from_json(str(raw))
        except (LaminaError, ValueError, TypeError):
            log.exception("%s: bad configuration for %s", what, key)
    return key


def provide_python_sdk(scheduler: Scheduler) -> None:
    """boto3 for Python functions, as one machine provides it (Lambda's runtimes have it)."""
    scheduler.python_sdk = build_python_sdk(default_cache_dir(scheduler.settings.data_dir))
    if scheduler.python_sdk is not None:
        interpreters = {
            c.interpreter
            for c in scheduler.runtimes.describe()
            if c.execution_env and "python" in c.execution_env and c.interpreter
        }
        compile_in_background(scheduler.python_sdk, sorted(interpreters))


def pull_config(
    environ: Mapping[str, str], api_endpoint: str
) -> tuple[PullConfig | None, tuple[str, str]]:
    """Whether this node pulls its packages (``LAMINA_CLUSTER_CODE_PULL=1``, or a bucket
    in ``LAMINA_CLUSTER_CODE_BUCKET``), from where, and the SigV4 key pair it signs the
    control plane's code route with (``LAMINA_CLUSTER_CODE_ACCESS_KEY_ID`` /
    ``LAMINA_CLUSTER_CODE_SECRET_ACCESS_KEY``; the bucket uses boto3's own chain)."""
    if environ.get("LAMINA_CLUSTER_CODE_PULL") != "1" and not environ.get(
        "LAMINA_CLUSTER_CODE_BUCKET"
    ):
        return None, ("", "")
    credentials = (
        environ.get("LAMINA_CLUSTER_CODE_ACCESS_KEY_ID", ""),
        environ.get("LAMINA_CLUSTER_CODE_SECRET_ACCESS_KEY", ""),
    )
    return PullConfig.from_env(environ, api_endpoint), credentials


async def _main(args: argparse.Namespace) -> None:
    settings = load_settings(os.environ, data_dir=Path(args.data_dir), host=args.host)
    token = os.environ.get("LAMINA_CLUSTER_TOKEN", "")
    if not token:
        raise SystemExit("LAMINA_CLUSTER_TOKEN is not set: refusing to serve unauthenticated")
    pull, pull_credentials = pull_config(os.environ, args.api_endpoint)
    worker = Worker(
        settings, args.node_id, args.capacity_mb, args.cpus, token, pull, pull_credentials
    )
    worker.scheduler.api_endpoint = args.api_endpoint
    if settings.python_sdk:
        provide_python_sdk(worker.scheduler)
    server = await worker.serve(args.host, args.port)
    relay = api_address(args.api_endpoint)
    if relay is not None:
        # Functions reach Lamina's API inside their namespace (AWS_ENDPOINT_URL), as on
        # one machine: relayed to the control plane's.
        worker.scheduler.serve_api_inside(relay[1], ApiRelay(*relay).serve)
    # What the worker built to start lives as long as it does: collections skip it.
    gc.freeze()
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    if args.die_with:  # the node's raylet: when the node goes, the worker goes at once
        raylet = die_with(args.die_with)
        loop.add_reader(raylet, _raylet_ended, loop, raylet, worker, args)
    worker.leave_grace_s = args.leave_grace_s
    # Before it says it is ready: a SIGTERM right after must mean "leave", not die.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stopping.set)
    print(f"LAMINA-WORKER {port}", flush=True)
    await worker.stopping.wait()
    server.close()
    await worker.leave(worker.leave_grace_s)
    await worker.close()


def _raylet_ended(
    loop: asyncio.AbstractEventLoop, raylet: int, worker: Worker, args: argparse.Namespace
) -> None:
    """The node's raylet ended: leave gracefully if Ray drained the node (an idle raylet
    shuts down the moment it accepts a drain, before the control plane could say
    ``leave``), else die at once, as a node that fails.

    Ray's GCS says which: if it does not answer within :data:`DEATH_CHECK_DEADLINE_S`
    (the head is gone too), the node is handled as lost. A drain is Ray's word, and no
    word came; a lost node loses nothing accepted (in-flight invokes fail with a
    Lambda-shaped error, async events and workflow tasks are retried elsewhere), while a
    worker that waited would keep its environments, their memory and its port for as long
    as Ray's GCS client takes to give up (~40-60 s)."""
    loop.remove_reader(raylet)
    os.close(raylet)

    async def decide() -> None:
        drained = bool(args.gcs_address) and await _drained(loop, args.gcs_address, worker)
        if drained or worker.stopping.is_set():
            # (Told to leave already: the control plane heard of the drain, or SIGTERM.)
            log.info("Ray drained node %s: its worker leaves", worker.node_id)
            worker.stopping.set()
        else:
            log.warning("the raylet of node %s ended: its worker dies with it", worker.node_id)
            os.kill(os.getpid(), signal.SIGKILL)

    worker.deciding = loop.create_task(decide())


async def _drained(loop: asyncio.AbstractEventLoop, gcs_address: str, worker: Worker) -> bool:
    """Whether Ray's GCS says the worker's node was drained, within
    :data:`DEATH_CHECK_DEADLINE_S` (no answer by then: False)."""
    answer: asyncio.Future[bool] = loop.create_future()

    def settle(drained: bool) -> None:
        if not answer.done():  # (too late: the deadline passed and it was cancelled)
            answer.set_result(drained)

    def from_thread(drained: bool) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, drained)

    asked = loop.time()
    ask_drained(gcs_address, worker.node_id, from_thread)
    try:
        drained = await asyncio.wait_for(answer, DEATH_CHECK_DEADLINE_S)
    except TimeoutError:
        log.warning(
            "Ray's GCS did not say within %.0f s why node %s ended: it is handled as lost",
            DEATH_CHECK_DEADLINE_S,
            worker.node_id,
        )
        return False
    log.info("Ray's GCS answered in %.2f s", loop.time() - asked)
    return drained


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="lamina-worker")
    p.add_argument("--node-id", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--capacity-mb", type=int, required=True)
    p.add_argument("--cpus", type=float, default=1.0)
    p.add_argument("--api-endpoint", default="")
    p.add_argument("--die-with", type=int, default=0, help="exit when this process ends")
    p.add_argument(
        "--gcs-address",
        default="",
        help="Ray's GCS: asked whether the --die-with raylet ended because of a drain",
    )
    p.add_argument(
        "--leave-grace-s",
        type=float,
        default=900.0,
        help="on SIGTERM, how long invokes in flight may run before the node stops",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        import uvloop  # the fast event loop, when the `fast` extra is installed

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        log.info("uvloop is not installed: the worker runs on asyncio's loop")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
