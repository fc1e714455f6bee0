"""The Python zygote forks each environment from inside that environment's cgroups and goes
back to its own (``lamina/runtimes/python/zygote.py``, ``_serve``), so that what a fork
costs is charged to the environment, not to the zygote.

A real zygote process and real cgroups (needs root): v1's memory hierarchy, where the zygote
moves its serving thread (``tasks``), and the v2 unified hierarchy (controller-less on a
hybrid host, enough for membership), where it moves the process (``cgroup.procs``). The
test plays the
platform's part: it sends fork requests as :class:`lamina.sandbox.zygote.Zygote` does,
holds each request's ns socket (so the fork, C1, waits there and can be looked at) and
then answers it with an error, which C1 reports on its status pipe.
"""

from __future__ import annotations

import array
import json
import os
import select
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import lamina
from lamina.sandbox.zygote import fork_request

pytestmark = pytest.mark.privileged

ZYGOTE = Path(lamina.__file__).parent / "runtimes" / "python" / "zygote.py"
# (hierarchy, the file a task writes 0 into to join a group: what CgroupDriver passes)
HIERARCHIES = {
    "v1": (Path("/sys/fs/cgroup/memory"), "tasks"),
    "v2": (Path("/sys/fs/cgroup/unified"), "cgroup.procs"),
}


@pytest.fixture(params=sorted(HIERARCHIES))
def groups(request: pytest.FixtureRequest) -> Iterator[dict[str, Path]]:
    """Groups ``home``, ``env1``, ``env2``; ``join`` is the name of their join file."""
    hierarchy, join = HIERARCHIES[request.param]
    if os.geteuid() != 0 or not (hierarchy / "cgroup.procs").exists():
        pytest.skip(f"needs root and {hierarchy}")
    root = hierarchy / f"lamina-test-zg{os.getpid()}"
    made = {name: root / name for name in ("home", "env1", "env2")}
    for d in made.values():
        d.mkdir(parents=True)
    yield {**made, "join": Path(join)}
    for d in [*made.values(), root]:
        for pid in (d / "cgroup.procs").read_text().split():
            os.kill(int(pid), signal.SIGKILL)
        for _ in range(200):
            try:
                d.rmdir()
                break
            except OSError:
                time.sleep(0.01)  # the killed processes are still leaving (kernel state)


class Platform:
    """The platform's end of a real zygote's control socket."""

    def __init__(self, tmp: Path, home: Path) -> None:
        (tmp / "app.py").write_text("def handler(event, context):\n    return {}\n")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**os.environ, "_HANDLER": "app.handler", "LAMBDA_TASK_ROOT": str(tmp)}
        self.pid = os.posix_spawn(
            sys.executable,
            [sys.executable, str(ZYGOTE)],
            env,
            file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)],
        )
        theirs.close()
        self.sock = ours
        (home / "cgroup.procs").write_text(str(self.pid))
        assert json.loads(ours.recv(4096)) == {"ready": True}

    def fork(self, env_group: Path, home: Path, name: str) -> tuple[int, socket.socket]:
        """Send one fork request; returns the read end of its status pipe and the ns
        socket C1 waits on."""
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        ns_ours, ns_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        join = os.open(env_group / name, os.O_WRONLY | os.O_CLOEXEC)
        back = os.open(home / name, os.O_WRONLY | os.O_CLOEXEC)
        fds = array.array("i", [status_w, 1, ns_theirs.fileno(), join, back])
        message = {"env": {}, "net": False, "seccomp": ""}
        self.sock.sendmsg([fork_request(1, message)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        for fd in (status_w, join, back):
            os.close(fd)
        ns_theirs.close()
        return status_r, ns_ours

    def close(self) -> None:
        self.sock.close()
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def tasks(group: Path) -> set[int]:
    """The processes in ``group`` (the zygote and each C1 have one thread)."""
    return {int(t) for t in (group / "cgroup.procs").read_text().split()}


def wait_for(check: object, what: str) -> None:
    """Poll kernel state (cgroup membership) until ``check()`` holds."""
    assert callable(check)
    for _ in range(500):
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(what)


def status_line(fd: int) -> str:
    ready, _, _ = select.select([fd], [], [], 10)
    assert ready, "no status line from the fork"
    return os.read(fd, 4096).decode()


def test_the_zygote_forks_from_the_environments_groups_and_goes_home(
    tmp_path: Path, groups: dict[str, Path]
) -> None:
    home, name = groups["home"], groups["join"].name
    platform = Platform(tmp_path, home)
    try:
        # Two requests at once: the second may find the zygote still in the first's groups.
        status1, ns1 = platform.fork(groups["env1"], home, name)
        status2, ns2 = platform.fork(groups["env2"], home, name)
        # Each C1 (waiting on its ns socket) was born in its environment's group ...
        for env in (groups["env1"], groups["env2"]):
            wait_for(lambda e=env: tasks(e) - {platform.pid}, f"no fork in {env}")
        # ... and the zygote went back to its own, where nothing of a fork is.
        wait_for(lambda: tasks(home) == {platform.pid}, f"zygote not home: {tasks(home)}")
        env1, env2 = tasks(groups["env1"]), tasks(groups["env2"])
        assert len(env1) == len(env2) == 1 and env1 != env2, (env1, env2)
        assert platform.pid not in env1 | env2
        for status, ns in ((status1, ns1), (status2, ns2)):
            ns.send(b"error the test made no namespaces")
            line = status_line(status)
            assert line.startswith("exit 125 ") and "the test made no namespaces" in line
            os.close(status)
            ns.close()
        # A malformed request is refused on its status pipe; the zygote stays home.
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        join = os.open(groups["env1"] / name, os.O_WRONLY | os.O_CLOEXEC)
        back = os.open(home / name, os.O_WRONLY | os.O_CLOEXEC)
        fds = array.array("i", [status_w, 1, 1, join, back])
        platform.sock.sendmsg([b"1\n{not json"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        for fd in (status_w, join, back):
            os.close(fd)
        assert status_line(status_r).startswith("exit 125 bad request")
        os.close(status_r)
        assert tasks(home) == {platform.pid}
    finally:
        platform.close()
        shutil.rmtree(tmp_path, ignore_errors=True)
