"""The node agent's launch, without Ray: it starts a real worker outside its own process
tree, finds it again from the state file, starts a new one when it died, and the worker
dies with the process that stands for the raylet (the launching process's parent)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from lamina.cluster.agent import STATE_FILE, AgentSpec, is_drained, running
from tests.cluster.workers import TOKEN

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

# Stands for the raylet: runs the launch in a child (as the raylet runs a Ray worker),
# prints what it returned, then waits until killed.
RAYLET = """
import json, subprocess, sys, time
child = "from lamina.cluster.agent import AgentSpec, launch; import json, sys; "
child += "print(json.dumps(launch(AgentSpec(**json.loads(sys.argv[1])), sys.argv[2])))"
out = subprocess.run([sys.executable, "-c", child, *sys.argv[1:]], capture_output=True,
                     text=True, check=True).stdout
print(out.strip(), flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def wait_until(check: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def spec(tmp_path: Path) -> Iterator[AgentSpec]:
    if os.geteuid() != 0:
        pytest.skip("needs root (the worker makes real sandboxes)")
    yield AgentSpec("n1", "127.0.0.1", str(tmp_path / "n1"), 1024, 1.0, "")
    found = running(tmp_path / "n1")
    if found is not None:  # never leave a worker behind
        os.kill(found.pid, signal.SIGKILL)


def raylet(spec: AgentSpec) -> tuple[subprocess.Popen[str], tuple[str, int, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RAYLET, json.dumps(asdict(spec)), TOKEN],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.stdout is not None
    host, port, pid = json.loads(proc.stdout.readline())
    return proc, (host, port, pid)


def test_a_worker_is_started_found_again_restarted_and_dies_with_the_raylet(
    spec: AgentSpec,
) -> None:
    first, (host, port, pid) = raylet(spec)
    try:
        assert host == "127.0.0.1"
        socket.create_connection((host, port), timeout=10).close()  # it listens
        # Not in the launcher's process tree: adopted by init, in a session of its own.
        stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        assert int(stat[1]) != first.pid and os.getsid(pid) != os.getsid(first.pid)
        state = json.loads((Path(spec.data_dir) / STATE_FILE).read_text())
        assert (state["port"], state["pid"]) == (port, pid)

        # Launched again (a restarted control plane): the same worker, nothing started.
        again, found = raylet(spec)
        assert found == (host, port, pid)
        again.kill()
        again.wait()
        assert not gone(pid)  # not the raylet that started it: the worker stays

        # The worker dies: the next launch starts a new one.
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: gone(pid))
        second, (_, port2, pid2) = raylet(spec)
        assert pid2 != pid
        socket.create_connection((host, port2), timeout=10).close()
    finally:
        first.kill()
        first.wait()
    # Its raylet goes: the worker goes with it at once.
    second.kill()
    second.wait()
    assert wait_until(lambda: gone(pid2))
    assert running(Path(spec.data_dir)) is None


def test_only_a_node_ray_drained_counts_as_drained() -> None:
    """A worker whose raylet ended leaves gracefully only when Ray's GCS says the node
    ended by a drain; a crash (still alive in the GCS) or ``ray stop`` is a lost node."""
    assert is_drained("DEAD", "AUTOSCALER_DRAIN_PREEMPTED")
    assert is_drained("DEAD", "AUTOSCALER_DRAIN_IDLE")
    assert not is_drained("DEAD", "EXPECTED_TERMINATION")  # ray stop
    assert not is_drained("DEAD", "UNEXPECTED_TERMINATION")
    assert not is_drained("ALIVE", "UNSPECIFIED")  # crashed: health checks not failed yet
