"""The control plane's invoke path on a cluster: place, send over the node's connection.

:class:`ClusterRouter` is the scheduler's ``route`` in cluster mode. For each invoke it
asks the pure :class:`~lamina.cluster.placement.Placement` where to run it, sends the
code package first if that node lacks it, and sends the invoke over the node's open
:class:`~lamina.cluster.connection.NodeConnection`. What the node's scheduler produced —
ledger records and log lines — arrives in the frames and is written here, into the same
ledger and log groups one machine writes, so bills, REPORT lines and ``lamina logs``
are unchanged; the answer says which node ran it (``InvokeResult.node``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

from lamina.cluster.connection import NodeConnection
from lamina.cluster.drain import DEFAULT_RECENT_S, Rewarm, RoomElsewhere, plan_drain
from lamina.cluster.frames import NodeState
from lamina.cluster.node_envs import NodeEnv, as_leaving
from lamina.cluster.placement import Cold, NoRoom, Placement, Throttle
from lamina.errors import NodeLeaving, NodeLost, TooManyRequests
from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvokeResult
from lamina.runtime_api.bus import TelemetryBus
from lamina.scheduler.driver import InvokeRequest
from lamina.scheduler.report import RecordSink
from lamina.tracing import new_request_id

log = logging.getLogger("lamina.cluster")

REASON_CAPACITY = "ClusterCapacityExceeded"


class ClusterRouter:
    """Places invokes on nodes and carries them over each node's connection."""

    def __init__(
        self,
        placement: Placement,
        token: str,
        record: RecordSink,
        logs: LogStore,
        package: Callable[[str], Path],
    ) -> None:
        self.placement = placement
        self._token = token
        self._record = record
        self._logs = logs
        self._package = package  # a code package's zip by SHA-256 (the control plane's store)
        self.connections: dict[str, NodeConnection] = {}
        # Told of each throttled invoke (function, version, epoch s), as the scheduler's.
        self.on_throttle: Callable[[str, str, float], None] | None = None
        # Told when a node's connection ends (the fleet reconnects or forgets it).
        self.on_lost: Callable[[str], None] | None = None
        self.lost_invokes = 0
        # The execution role's temporary credentials for a function's environments (IAM),
        # sent once per configuration and connection: environments start on the nodes.
        self.credentials: Callable[[FunctionConfig], tuple[str, str, str]] | None = None
        # The control plane's telemetry bus (the console's live tail, `lamina logs
        # --follow`): the nodes' log lines go there too while someone watches.
        self.bus: TelemetryBus | None = None
        # Configurations by cache key (bounded by the functions' versions and revisions).
        self._configs: dict[str, FunctionConfig] = {}
        self._rewarming: set[asyncio.Future[None]] = set()
        # A leaving node's idle environments used within this long are started again
        # elsewhere (lamina.cluster.drain.recent_window).
        self.rewarm_window_s = DEFAULT_RECENT_S

    # -- membership -------------------------------------------------------------------
    async def attach(self, host: str, port: int) -> str:
        """Connect to a node's worker and start placing work there; its node id."""
        conn = NodeConnection(host, port, self._token, self._state, self._lost)
        conn.on_leaving = self._leaving
        welcome = await conn.open()
        old = self.connections.get(welcome.node_id)
        if old is not None and old is not conn:
            await old.close()
        self.connections[welcome.node_id] = conn
        self.placement.join(welcome.node_id, welcome.capacity_mb, welcome.cpus)
        self._state(welcome.node_id, welcome.state)
        log.info(
            "node %s attached at %s:%d (%d MB for environments, %.1f CPUs)",
            welcome.node_id,
            host,
            port,
            welcome.capacity_mb,
            welcome.cpus,
        )
        return welcome.node_id

    def attached(self, node_id: str) -> bool:
        conn = self.connections.get(node_id)
        return conn is not None and not conn.closed

    async def detach(self, node_id: str) -> None:
        """Stop placing work on ``node_id`` and close its connection."""
        conn = self.connections.pop(node_id, None)
        self.placement.lose(node_id)
        if conn is not None:
            await conn.close()

    async def close(self) -> None:
        for node_id in list(self.connections):
            await self.detach(node_id)

    def _lost(self, conn: NodeConnection) -> None:
        node_id = conn.node_id
        if self.connections.get(node_id) is conn:
            del self.connections[node_id]
            self.placement.lose(node_id)
            log.warning("node %s lost: no new invokes go there", node_id)
            if self.on_lost is not None:
                self.on_lost(node_id)

    def _leaving(self, conn: NodeConnection, envs: tuple[NodeEnv, ...] | None) -> None:
        """The node drains: no new invokes go there; those in flight finish; its warm
        environments used recently with no idle twin elsewhere are started again on the
        nodes with room (the drain plan's rewarm advice), so a warm function stays warm."""
        if self.connections.get(conn.node_id) is conn:
            rewarm = self._rewarm_plan(conn.node_id, envs)
            self.placement.lose(conn.node_id)
            log.info("node %s is leaving: no new invokes go there", conn.node_id)
            for step in rewarm:
                cfg = self._configs.get(step.key)
                if cfg is not None:
                    task = asyncio.ensure_future(self._rewarm(step.node_id, cfg))
                    self._rewarming.add(task)
                    task.add_done_callback(self._rewarming.discard)

    def _rewarm_plan(self, node_id: str, envs: tuple[NodeEnv, ...] | None) -> tuple[Rewarm, ...]:
        node = self.placement.nodes.get(node_id)
        if node is None:
            return ()
        if envs is None:
            # A worker of an earlier version tells no last-use times: its idle
            # environments (as last reported) count as just used.
            envs = tuple(
                NodeEnv(f"{key}#{i}", cfg.name, key, "idle", 0, cfg.memory_mb, 0.0)
                for key, count in node.idle.items()
                if (cfg := self._configs.get(key)) is not None
                for i in range(count)
            )
        others = [
            RoomElsewhere(n.node_id, n.room_mb(), dict(n.idle))
            for n in self.placement.live()
            if n.node_id != node_id
        ]
        now = time.monotonic()
        leaving = as_leaving(envs, now, self._timeout_of)
        return plan_drain(leaving, others, now, recent_s=self.rewarm_window_s).rewarm

    def _timeout_of(self, key: str) -> float:
        cfg = self._configs.get(key)
        return 0.0 if cfg is None else cfg.timeout_s

    async def _rewarm(self, node_id: str, cfg: FunctionConfig) -> None:
        conn = self.connections.get(node_id)
        if conn is None or conn.closed:
            return
        try:
            await self._ensure_code_sent(conn, cfg)
            creds = None
            if self.credentials is not None and cfg.cache_key not in conn.credentialed:
                creds = self.credentials(cfg)
                conn.credentialed.add(cfg.cache_key)
            conn.warm(cfg, creds)
        except (NodeLost, OSError) as exc:
            log.warning("could not rewarm %s on node %s: %s", cfg.name, node_id, exc)

    async def _ensure_code_sent(self, conn: NodeConnection, cfg: FunctionConfig) -> None:
        if not conn.pulls:
            for sha in (cfg.code_sha256, *(layer.code_sha256 for layer in cfg.layers)):
                if sha not in conn.codes:
                    await self._ship(conn, sha)

    def _state(self, node_id: str, state: NodeState) -> None:
        # The node that ran each record is the one whose connection carried it.
        for rec in state.records:
            # (Decoded with its node already: state_from_json.)
            self._record(rec if rec.node == node_id else rec._replace(node=node_id))
        bus = self.bus
        for event in state.logs:
            self._logs.append(event.function, event.stream, event.timestamp_ms, event.message)
            if bus is not None and bus.watched(name := event.function_name):
                bus.publish(name, event.timestamp_ms, "function", event.message)
        self.placement.report(node_id, state.used_mb, state.idle, state.idle_mb)

    def drain(self, function: str) -> None:
        """Retire ``function``'s idle environments on every node (its code or
        configuration changed): their memory is free for other environments at once."""
        for conn in list(self.connections.values()):
            if not conn.closed:
                conn.drain(function)
        self._configs = {k: c for k, c in self._configs.items() if c.name != function}

    async def _ship(self, conn: NodeConnection, sha: str) -> None:
        """Send a package the node lacks, once however many cold starts need it now."""
        sending = conn.shipping.get(sha)
        if sending is None:
            sending = asyncio.ensure_future(self._read_and_send(conn, sha))
            conn.shipping[sha] = sending
        await asyncio.shield(sending)

    async def _read_and_send(self, conn: NodeConnection, sha: str) -> None:
        try:
            package = await asyncio.to_thread(self._package(sha).read_bytes)
            conn.send_code(sha, package)
        finally:
            conn.shipping.pop(sha, None)

    # -- the invoke path --------------------------------------------------------------
    async def invoke(self, req: InvokeRequest) -> InvokeResult:
        """Place ``req`` and carry it to its node; the answer names the node. One coroutine
        for the whole trip (the answer passes back through every frame in between)."""
        if not req.request_id:
            req = dataclasses.replace(req, request_id=new_request_id())  # a copy
        cfg = req.cfg
        key = cfg.cache_key
        if key not in self._configs:
            self._configs[key] = cfg  # what a leaving node's rewarm starts
        retried = False
        try:
            while True:
                decision = self.placement.place(cfg.name, cfg.version, key, cfg.memory_mb)
                if isinstance(decision, (Throttle, NoRoom)):
                    if self.on_throttle is not None:
                        self.on_throttle(cfg.name, cfg.version, time.time())
                    if isinstance(decision, Throttle):
                        raise TooManyRequests(decision.message, decision.reason)
                    raise TooManyRequests(decision.message, REASON_CAPACITY)
                node_id = decision.node_id
                try:
                    conn = self.connections.get(node_id)
                    if conn is None:
                        raise NodeLost(f"Node {node_id} is not connected.")
                    if key not in conn.code_ready:
                        # Once per configuration and connection: its packages are on the
                        # node (sent now if not), and its role's credentials go with this
                        # invoke.
                        await self._ensure_code_sent(conn, cfg)
                        conn.code_ready.add(key)
                    creds = None
                    if self.credentials is not None and key not in conn.credentialed:
                        creds = self.credentials(cfg)
                        conn.credentialed.add(key)
                    make_room = decision.make_room_mb if isinstance(decision, Cold) else 0
                    return await conn.invoke(req, creds, make_room)
                except NodeLeaving:
                    # It did not run there (the node said it is leaving): place it again,
                    # once.
                    if retried:
                        raise
                    retried = True
                except NodeLost:
                    self.lost_invokes += 1
                    raise
                finally:
                    self.placement.finish(cfg.name, node_id)
        finally:
            if req.stream is not None:
                req.stream.close()  # whatever ended the invoke, its reader stops waiting
