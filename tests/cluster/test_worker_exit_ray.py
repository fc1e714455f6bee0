"""How a node's worker ends with its raylet, by what Ray's GCS says (or does not say).

A real 2-node Ray cluster on 127.0.0.1 (``ray.cluster_utils.Cluster``) and a real worker
started as the agent starts it (``--die-with`` the node's raylet, ``--gcs-address``), but
no control plane: only the worker's exit is looked at. Ray drained the node: it leaves
gracefully (exit status 0). Its raylet crashed: it dies at once (SIGKILL). Its raylet and
the GCS both went (the head died, or the whole cluster was torn down): it dies at once
too, without waiting out the GCS client's own connect timeout (tens of seconds) while it
keeps its environments, their memory and its port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.workers import start_worker

ray_cluster_utils = pytest.importorskip(
    "ray.cluster_utils", reason="Ray is not installed (pip install 'lamina[cluster]')"
)

pytestmark = [pytest.mark.privileged, pytest.mark.slow, pytest.mark.cluster]

NODE_ARGS: dict[str, Any] = {
    "node_ip_address": "127.0.0.1",
    "num_cpus": 1,
    "include_dashboard": False,
}
# Far below the ~60 s the worker stayed before, far above the ~2 s it takes: the test is
# about whether the worker waits on a GCS that is gone, not about how fast it exits.
EXIT_BOUND_S = 20.0


@pytest.fixture
def cluster() -> Iterator[Any]:
    if os.geteuid() != 0:
        pytest.skip("needs root (the worker makes real sandboxes)")
    c = ray_cluster_utils.Cluster(initialize_head=True, head_node_args=NODE_ARGS)
    try:
        c.add_node(**NODE_ARGS)
        yield c
    finally:
        c.shutdown()


def raylet_pid(node: Any) -> int:
    return int(node.all_processes["raylet"][0].process.pid)


def worker_on(node: Any, cluster: Any, root: Path) -> tuple[subprocess.Popen[str], int]:
    """A worker for ``node`` as the agent starts one; returns it and the raylet's pid."""
    raylet = raylet_pid(node)
    proc, _ = start_worker(
        root, node.node_id, args=["--die-with", str(raylet), "--gcs-address", cluster.address]
    )
    return proc, raylet


def exit_status(proc: subprocess.Popen[str]) -> int:
    """The worker's exit status, once it exits (within :data:`EXIT_BOUND_S`)."""
    try:
        return proc.wait(timeout=EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker still runs {EXIT_BOUND_S:.0f} s after its raylet ended")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_worker_whose_node_ray_drained_leaves_gracefully(cluster: Any, tmp_path: Path) -> None:
    """The raylet of an idle node shuts down the moment it accepts a drain (nothing of
    Ray's runs there: the worker is outside Ray's worker pool); the GCS, asked within the
    worker's deadline, says it was drained, so the worker leaves as on SIGTERM."""
    from ray._raylet import GcsClient  # type: ignore[attr-defined]
    from ray.core.generated.autoscaler_pb2 import DrainNodeReason  # type: ignore[attr-defined]

    (node,) = cluster.worker_nodes
    proc, _ = worker_on(node, cluster, tmp_path)
    gcs = GcsClient(address=cluster.address)
    idle = DrainNodeReason.Value("DRAIN_NODE_REASON_IDLE_TERMINATION")
    deadline = time.monotonic() + 60
    # (Refused until the raylet has reported the node idle once.)
    while not gcs.drain_node(node.node_id, idle, "a test", 0)[0]:
        assert time.monotonic() < deadline, "Ray never accepted the drain"
        time.sleep(0.5)
    assert exit_status(proc) == 0


def test_a_worker_whose_raylet_crashed_dies_at_once(cluster: Any, tmp_path: Path) -> None:
    """The GCS answers (the node is still alive to it: health checks have not failed yet),
    and it is not a drain."""
    (node,) = cluster.worker_nodes
    proc, raylet = worker_on(node, cluster, tmp_path)
    os.kill(raylet, signal.SIGKILL)
    assert exit_status(proc) == -signal.SIGKILL


def test_a_worker_whose_raylet_and_gcs_both_die_dies_without_waiting_for_the_gcs(
    cluster: Any, tmp_path: Path
) -> None:
    (node,) = cluster.worker_nodes
    proc, raylet = worker_on(node, cluster, tmp_path)
    # The head goes first (its GCS with it), then the node's raylet, as when the head
    # machine dies or a benchmark's cluster is torn down.
    cluster.remove_node(cluster.head_node, allow_graceful=False)
    os.kill(raylet, signal.SIGKILL)
    # No answer from the GCS is not a drain: it dies as after a crash, not ~40-60 s later.
    assert exit_status(proc) == -signal.SIGKILL


def test_a_worker_told_to_leave_as_its_raylet_and_gcs_die_leaves_without_waiting(
    cluster: Any, tmp_path: Path
) -> None:
    """SIGTERM (an operator, a pod's preStop) just as the raylet and the GCS go: the worker
    leaves gracefully, and its question to the GCS, still stuck, does not hold its exit
    (it runs in a daemon thread, not one the event loop joins on the way out)."""
    (node,) = cluster.worker_nodes
    proc, raylet = worker_on(node, cluster, tmp_path)
    cluster.remove_node(cluster.head_node, allow_graceful=False)
    os.kill(raylet, signal.SIGKILL)
    proc.terminate()
    assert exit_status(proc) == 0
