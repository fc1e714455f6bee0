"""The node agent: short Ray tasks pinned to one node that start and stop its worker.

Ray does membership, placement and health; the agent uses it for one thing: run a
Lamina worker (:mod:`lamina.cluster.worker`) on a node and say where it listens.
:func:`launch` runs as a Ray task with a *hard* ``NodeAffinitySchedulingStrategy`` (soft
affinity placed work elsewhere in measurements) and no CPUs: it finds the node's running
worker from its state file (a restarted control plane re-attaches: nothing is started
twice) or starts one, and returns.

Why tasks and not a long-lived actor: Ray counts a node with any actor on it as busy
("Busy workers on node."), so an agent actor kept every Lamina node busy forever and Ray's
autoscaler never removed an idle one. The worker runs outside Ray's worker pool instead
(its own session, adopted by init), and the control plane says what it holds with a lease
per node (:mod:`lamina.cluster.leases`): a node is busy in Ray's eyes exactly while it
has environments. The worker dies with the node's raylet (it watches the raylet's pid,
the launching task's parent), as it died with the agent actor before — unless Ray drained
the node: a raylet that accepts a drain while nothing of Ray's runs there shuts itself
down at once, before the control plane could tell the worker, so the worker asks Ray's
GCS why its raylet went (:func:`node_drained`) and leaves gracefully if it was a drain.
Invokes never pass through Ray.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("lamina.cluster.agent")

NAMESPACE = "lamina"
STATE_FILE = "worker.json"
START_TIMEOUT_S = 60.0
READY = "LAMINA-WORKER "
# How long a worker whose raylet ended waits for Ray's GCS to say why: a raylet that
# crashed is still alive in the GCS (its health checks have not failed yet), so the
# answer comes in one round trip; a GCS that is away too means the node is lost.
DEATH_CHECK_TIMEOUT_S = 2.0
# How long the whole question may take: importing Ray's GCS client (~0.3-0.8 s),
# connecting and the round trip. Ray's client waits out its own connect timeout (tens of
# seconds) when the GCS is gone, whatever the call's timeout says; the worker does not.
DEATH_CHECK_DEADLINE_S = 3.0
# Ray's reasons for a node's end that are a drain (ray drain-node, autoscaler v2).
DRAIN_REASONS = frozenset({"AUTOSCALER_DRAIN_PREEMPTED", "AUTOSCALER_DRAIN_IDLE"})


def agent_name(node_id: str, token: str) -> str:
    """The node's agent name: its node, and which control plane it serves (a digest of the
    token, not the token), so two Lamina installations can share one Ray cluster. It
    names the node's working directory."""
    plane = hashlib.sha256(token.encode()).hexdigest()[:12]
    return f"lamina-agent-{plane}-{node_id}"


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """What an agent needs to start its node's worker."""

    node_id: str
    host: str  # the node's address; the worker listens there
    data_dir: str
    capacity_mb: int
    cpus: float
    api_endpoint: str  # where functions reach Lamina's API


@dataclass(frozen=True, slots=True)
class WorkerState:
    """The running worker as its state file records it."""

    host: str
    port: int
    pid: int
    started: str  # the process's start time (/proc/<pid>/stat field 22): pids are reused


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (None: gone, or a zombie no init has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # from field 3 (the state) on
    return None if fields[0] in ("Z", "X") else fields[19]  # field 22


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def running(data_dir: Path) -> WorkerState | None:
    """The worker the state file names, if that very process still runs."""
    try:
        raw = json.loads((data_dir / STATE_FILE).read_text())
        state = WorkerState(
            str(raw["host"]), int(raw["port"]), int(raw["pid"]), str(raw["started"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if _start_time(state.pid) == state.started else None


def launch(spec: AgentSpec, token: str) -> tuple[str, int, int]:
    """Run on the node (a Ray task): the node's worker's ``(host, port, pid)``, started
    now unless it already runs. The worker outlives this task and dies with the raylet."""
    data_dir = Path(spec.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    found = running(data_dir)
    if found is not None:
        return found.host, found.port, found.pid
    raylet = os.getppid()
    gcs_address = _gcs_address()
    if _comm(raylet) != "raylet":  # Ray 2.60 runs tasks in workers the raylet forks
        log.warning("the Ray worker's parent %d is not a raylet: the worker dies with it", raylet)
    out = data_dir / "worker.out"
    out.write_text("")
    argv = [
        sys.executable, "-m", "lamina.cluster.worker",
        "--node-id", spec.node_id, "--host", spec.host, "--data-dir", spec.data_dir,
        "--capacity-mb", str(spec.capacity_mb), "--cpus", str(spec.cpus),
        "--api-endpoint", spec.api_endpoint,
        # A Ray worker's parent is its node's raylet: when the node goes, so does Lamina's.
        "--die-with", str(raylet), "--gcs-address", gcs_address,
    ]  # fmt: skip
    # The shell starts the worker in the background and exits: the worker is adopted by
    # init, outside the Ray worker that runs this task (Ray ends that one's children).
    shell = subprocess.run(
        ["sh", "-c", '"$@" >"$OUT" 2>>"$LOG" </dev/null & echo $!', "sh", *argv],
        env={
            **os.environ,
            "LAMINA_CLUSTER_TOKEN": token,
            "OUT": str(out),
            "LOG": str(data_dir / "worker.log"),
        },
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
        timeout=30,
    )
    pid = int(shell.stdout.strip())
    port = _wait_ready(out, pid)
    started = _start_time(pid)
    if started is None:
        raise RuntimeError(f"the worker on {spec.node_id} exited as it started")
    state = WorkerState(spec.host, port, pid, started)
    tmp = data_dir / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(state)))
    tmp.replace(data_dir / STATE_FILE)
    return spec.host, port, pid


def _gcs_address() -> str:
    """The Ray cluster's GCS address, as the task running this sees it ("" outside Ray)."""
    try:
        import ray

        return str(ray.get_runtime_context().gcs_address) if ray.is_initialized() else ""
    except Exception:  # not in a Ray task (or a Ray without it): the worker just dies
        log.exception("cannot read the GCS address: the worker will not tell a drain")
        return ""


def _wait_ready(out: Path, pid: int) -> int:
    """The port the worker says it listens on (its first line on stdout)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = out.read_text()
        if "\n" in text:
            line = text.split("\n", 1)[0]
            if not line.startswith(READY):
                raise RuntimeError(f"the worker did not start: {line!r}")
            return int(line.split()[1])
        if _start_time(pid) is None:
            raise RuntimeError(f"the worker exited before it listened (see {out.parent})")
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise RuntimeError(f"the worker did not listen within {START_TIMEOUT_S:.0f} s")


def die_with(pid: int) -> int:
    """A descriptor that becomes readable when process ``pid`` ends (the worker watches
    its node's raylet with it); ProcessLookupError if it has already gone."""
    return os.pidfd_open(pid)


def is_drained(state: str, reason: str) -> bool:
    """Whether a node Ray's GCS lists with ``state`` (``ALIVE``, ``DEAD``) and death
    ``reason`` ended because Ray drained it (pure)."""
    return state == "DEAD" and reason in DRAIN_REASONS


def node_drained(gcs_address: str, node_id: str, timeout_s: float = DEATH_CHECK_TIMEOUT_S) -> bool:
    """Ask Ray's GCS whether node ``node_id`` ended because it was drained (its raylet,
    idle in Ray's eyes, shut itself down on accepting the drain). False when the GCS says
    otherwise or cannot be asked (logged): the node is then handled as lost.

    Imports Ray's GCS client on the call (~0.3 s, ~56 MB): only a worker whose raylet
    ended pays for it."""
    try:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]
        from ray.core.generated.common_pb2 import NodeDeathInfo  # type: ignore[attr-defined]
        from ray.core.generated.gcs_pb2 import GcsNodeInfo  # type: ignore[attr-defined]

        infos = GcsClient(address=gcs_address).get_all_node_info(timeout=timeout_s)
        for info in infos.values():
            if info.node_id.hex() == node_id:
                state = GcsNodeInfo.GcsNodeState.Name(info.state)
                reason = NodeDeathInfo.Reason.Name(info.death_info.reason)
                log.info("Ray's GCS lists node %s as %s (%s)", node_id, state, reason)
                return is_drained(state, reason)
        log.warning("Ray's GCS does not list node %s", node_id)
    except Exception:  # Ray raises many types; the GCS may be gone with the node
        log.exception("cannot ask Ray's GCS why node %s ended", node_id)
    return False


def ask_drained(gcs_address: str, node_id: str, answer: Callable[[bool], None]) -> None:
    """Ask Ray's GCS (:func:`node_drained`) in a daemon thread and hand the answer to
    ``answer``, from that thread. The caller waits for it at most as long as it chooses
    (:data:`DEATH_CHECK_DEADLINE_S`): a question stuck on a GCS that is gone neither holds
    the caller nor keeps its process from exiting (a daemon thread is not joined at exit,
    unlike the event loop's executor threads)."""
    threading.Thread(
        target=lambda: answer(node_drained(gcs_address, node_id)), name="gcs-question", daemon=True
    ).start()
