"""The node agent: a Ray actor pinned to one node that owns the node's worker process.

Ray does membership, placement and restarts; the agent does one thing with them: keep a
Lamina worker (:mod:`lamina.cluster.worker`) running on its node and say where it
listens. It is created with a *hard* ``NodeAffinitySchedulingStrategy`` (soft affinity
placed actors elsewhere in measurements), ``max_restarts=-1`` and ``lifetime="detached"``,
named after its node in the ``lamina`` namespace, so a restarted control plane finds
the running agents by name and re-attaches to their workers: nothing is started twice.

The worker dies with the agent (``PR_SET_PDEATHSIG``): when the node's raylet goes, its
actors go, and with them the node's environments. Invokes never pass through the actor.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

NAMESPACE = "lamina"
PR_SET_PDEATHSIG = 1


def agent_name(node_id: str, token: str) -> str:
    """The agent's Ray name: its node, and which control plane it serves (a digest of the
    token, not the token), so two Lamina installations can share one Ray cluster."""
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


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class NodeAgent:
    """Started by Ray on its node (``ray.remote(NodeAgent).options(...)``)."""

    def __init__(self, spec: AgentSpec, token: str) -> None:
        self.spec = spec
        env = {**os.environ, "LAMINA_CLUSTER_TOKEN": token}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lamina.cluster.worker",
                "--node-id",
                spec.node_id,
                "--host",
                spec.host,
                "--data-dir",
                spec.data_dir,
                "--capacity-mb",
                str(spec.capacity_mb),
                "--cpus",
                str(spec.cpus),
                "--api-endpoint",
                spec.api_endpoint,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=_die_with_parent,  # the worker must not outlive its agent
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("LAMINA-WORKER "):
            self.proc.kill()
            raise RuntimeError(f"the worker on {spec.node_id} did not start: {line!r}")
        self.port = int(line.split()[1])

    def address(self) -> tuple[str, int, int]:
        """Where the worker listens, and its pid."""
        if self.proc.poll() is not None:
            # The worker died under a live agent: exiting makes Ray restart us (and it).
            os._exit(1)
        return self.spec.host, self.port, self.proc.pid

    def leave(self, grace_s: float = 900.0) -> int:
        """Drain the node before it goes (scale-down): the worker tells the control plane
        it is leaving, finishes the invokes in flight (at most ``grace_s``) and exits.
        Returns the worker's exit status."""
        self.proc.terminate()  # SIGTERM: the worker's graceful leave
        return self.proc.wait(timeout=grace_s + 30)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
