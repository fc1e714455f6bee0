"""Environments die with the server: after a SIGKILL of ``lamina serve`` no function process
is left (frozen ones, forked ones and a function's own daemonised children included)."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = pytest.mark.privileged

DAEMON_PY = """
import subprocess, time

def handler(event, context):
    # A child in its own session that outlives the invoke, as a daemon would.
    subprocess.Popen(["sleep", "1000"], start_new_session=True)
    time.sleep(event.get("sleep", 0))
    return "ok"
"""


def _processes_of(server_pid: int) -> list[int]:
    """Host pids whose cgroup is under the server's group (lamina/s<pid>)."""
    marker = f"/lamina/s{server_pid}/"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "cgroup").read_text()
        except OSError:
            continue
        if marker in text:
            pids.append(int(entry.name))
    return pids


def test_sigkill_of_the_server_leaves_no_function_process(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    server = LaminaProcess(
        tmp_path, {"LAMINA_ISOLATION": "process", "LAMINA_FREEZE_GRACE_S": "0.05"}
    ).start()
    try:
        assert server.proc is not None
        slot = next(line.split("slot ")[1].split()[0] for line in server.output if "slot " in line)
        server.create("death-plain", python_zip(DAEMON_PY))
        server.create(
            "death-snap", python_zip(DAEMON_PY), SnapStart={"ApplyOn": "PublishedVersions"}
        )
        assert server.invoke("death-plain", {}).json() == "ok"  # then frozen, idle
        assert server.invoke("death-snap", {}).json() == "ok"  # a zygote and a fork
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            busy = pool.submit(server.invoke, "death-plain", {"sleep": 30})  # a second, busy one
            deadline = time.monotonic() + 30
            while len(_processes_of(server.proc.pid)) < 11 and time.monotonic() < deadline:
                time.sleep(0.05)
            before = _processes_of(server.proc.pid)
            # plain: jail, init, runtime, two sleeps; zygote: jail, init, zygote;
            # its fork: init, runtime, a sleep.
            assert len(before) >= 11, before
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
            killed_at = time.monotonic()
            left = before
            while left and time.monotonic() - killed_at < 20:
                time.sleep(0.05)
                left = [pid for pid in before if Path(f"/proc/{pid}").exists()]
            assert left == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in left]
            # The /tmp volumes of its environments are unmounted and deleted too.
            volumes = str(tmp_path / "ephemeral") + "/"
            mounted = [line for line in Path("/proc/self/mounts").read_text().splitlines()
                       if volumes in line]  # fmt: skip
            while mounted and time.monotonic() - killed_at < 20:
                time.sleep(0.05)
                mounted = [line for line in Path("/proc/self/mounts").read_text().splitlines()
                           if volumes in line]  # fmt: skip
            assert mounted == []
            assert list((tmp_path / "ephemeral").glob("*.img")) == []
            # And its nftables table (outbound NAT) is gone.
            tables = subprocess.run(
                ["nft", "list", "tables"], capture_output=True, text=True, check=False
            ).stdout
            assert f"lamina_n{slot}" not in tables
            with pytest.raises(Exception):  # noqa: B017 (any client error: the server is gone)
                busy.result()
    finally:
        server.stop()
