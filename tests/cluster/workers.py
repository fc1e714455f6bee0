"""Real worker processes (``python -m lamina.cluster.worker``) and a control-plane router
attached to them over loopback, without Ray: the rig of the invoke-path tests.

A test takes a :class:`WorkerRig` (one worker ``n1`` and a code store holding the echo
function) and hands :meth:`WorkerRig.run` an async scenario, which gets a
:class:`Control`: the router attached to ``n1`` (and to any further nodes asked for),
the ledger records and log store it fills, and the workers' processes by node id.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina.cluster.placement import Placement
from lamina.cluster.router import ClusterRouter
from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord
from lamina.store.code import CodeStore
from tests.integration.harness import python_zip

TOKEN = "t" * 64
SOURCE = """
import os
import time
import uuid
import boto3  # provided by the node's worker, as on one machine
INSTANCE = str(uuid.uuid4())  # one per environment (pids repeat: each has its own namespace)
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    print("hello from", os.getpid())
    return {"env": INSTANCE, "echo": event, "key": os.environ.get("AWS_ACCESS_KEY_ID")}
"""


def start_worker(
    root: Path,
    node_id: str,
    cpus: int = 2,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> tuple[subprocess.Popen[str], int]:
    """A worker with 1,024 MB for environments and its data under ``root/node_id``;
    returns its process and the port it listens on (once it says so)."""
    full_env = {
        **os.environ,
        "LAMINA_CLUSTER_TOKEN": TOKEN,
        "PYTHONPATH": os.getcwd(),
        **(env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamina.cluster.worker", "--node-id", node_id,
         "--data-dir", str(root / node_id), "--capacity-mb", "1024", "--cpus", str(cpus),
         *args],
        stdout=subprocess.PIPE, text=True, env=full_env,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("LAMINA-WORKER "), line
    return proc, int(line.split()[1])


def stop_worker(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


@contextmanager
def running_worker(root: Path, node_id: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """:func:`start_worker`, stopped on the way out."""
    proc, port = start_worker(root, node_id)
    try:
        yield proc, port
    finally:
        stop_worker(proc)


async def until(check: Callable[[], object], tries: int = 50, pause_s: float = 0.1) -> bool:
    """Poll ``check`` until it is true or ``tries`` run out; returns its last verdict."""
    for _ in range(tries):
        if check():
            return True
        await asyncio.sleep(pause_s)
    return bool(check())


def calls_of(owner: object, name: str) -> list[tuple[Any, ...]]:
    """Make ``owner.name`` record the arguments of each call (then make the call); returns
    the list they go to."""
    real = getattr(owner, name)
    calls: list[tuple[Any, ...]] = []

    def recording(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    setattr(owner, name, recording)
    return calls


@dataclass
class Control:
    """The control plane's side of a scenario."""

    router: ClusterRouter
    records: list[InvocationRecord]
    logs: LogStore
    workers: dict[str, subprocess.Popen[str]]

    async def shipped(self, request_id: str) -> InvocationRecord:
        """The ledger record of ``request_id`` once the node's batched state frame brings
        it (answers carry no record: it is not on the invoke's round trip)."""
        found: list[InvocationRecord] = []

        def arrived() -> bool:
            found[:] = [rec for rec in self.records if rec.request_id == request_id]
            return bool(found)

        assert await until(arrived), f"no record of {request_id} arrived"
        return found[0]


@asynccontextmanager
async def attached(
    root: Path, code: CodeStore, ports: Mapping[str, int], workers: dict[str, subprocess.Popen[str]]
) -> AsyncIterator[Control]:
    """A router attached to the workers at ``ports`` (node id → port), in that order; the
    role's credentials of a function are ``AKIDROLE<NAME>``."""
    records: list[InvocationRecord] = []
    logs = LogStore(root / "control" / "logs")
    r = ClusterRouter(Placement(), TOKEN, records.append, logs, code.zip_path)
    r.credentials = lambda cfg: ("AKIDROLE" + cfg.name.upper(), "secret", "token")
    try:
        for port in ports.values():
            await r.attach("127.0.0.1", port)
        yield Control(r, records, logs, workers)
    finally:
        await r.close()


Scenario = Callable[[Control], Awaitable[None]]


@dataclass
class WorkerRig:
    """Worker ``n1`` (``proc``, ``port``) and a code store holding the echo function
    (``cfg``: :data:`SOURCE` as ``echo``, Python 3.12)."""

    root: Path
    proc: subprocess.Popen[str]
    port: int
    store: CodeStore
    cfg: FunctionConfig

    @classmethod
    @contextmanager
    def started(cls, root: Path) -> Iterator[WorkerRig]:
        store = CodeStore(root / "control" / "code")
        pkg = store.put_zip(python_zip(SOURCE))
        cfg = FunctionConfig(
            "echo", "python3.12", "app.handler", pkg.sha256_hex, pkg.size, revision_id="r1"
        )
        with running_worker(root, "n1") as (proc, port):
            yield cls(root, proc, port, store, cfg)

    def run(self, scenario: Scenario, more_nodes: Sequence[str] = ()) -> None:
        """Run ``scenario`` against a router attached to ``n1`` and then to a worker started
        for each of ``more_nodes`` (stopped afterwards)."""
        with ExitStack() as stack:
            ports, workers = {"n1": self.port}, {"n1": self.proc}
            for node in more_nodes:
                workers[node], ports[node] = stack.enter_context(running_worker(self.root, node))

            async def attached_scenario() -> None:
                async with attached(self.root, self.store, ports, workers) as control:
                    await scenario(control)

            asyncio.run(attached_scenario())
