"""The rlimits fallback tier: real processes, no cgroups."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from lamina.config import Settings
from lamina.sandbox import Limits, SandboxSpec, create_sandbox
from lamina.sandbox.rlimit_tier import RlimitSandbox, cpu_ticks, vm_hwm_bytes

PY = "/usr/bin/python3"


def _spec(tmp_path: Path, script: str, memory_mb: int = 128) -> SandboxSpec:
    return SandboxSpec(
        env_id="fallback-1",
        argv=[PY, "-c", script],
        env={"PATH": "/usr/bin:/bin"},
        code_dir=tmp_path,
        runtime_dir=None,
        limits=Limits(memory_mb=memory_mb),
    )


async def _run(tmp_path: Path, script: str, memory_mb: int = 128) -> tuple[int, str]:
    sandbox = RlimitSandbox()
    read_end, write_end = os.pipe()
    proc = await sandbox.spawn(_spec(tmp_path, script, memory_mb), write_end)
    os.close(write_end)
    code = await proc.wait()
    await proc.kill()
    with os.fdopen(read_end) as out:
        return code, out.read()


def test_isolation_none_picks_the_fallback_and_says_once_what_is_not_enforced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="lamina.sandbox"):
        sandbox = create_sandbox(Settings(data_dir=tmp_path, isolation="none"))
    assert sandbox.tier == "rlimits"
    assert sandbox.task_root(tmp_path / "code") == str(tmp_path / "code")
    assert len(caplog.records) == 1
    assert "no CPU quota" in caplog.records[0].getMessage()


def test_runs_directly_with_exit_status_and_output(tmp_path: Path) -> None:
    code, out = asyncio.run(
        _run(tmp_path, "import os; print(os.getcwd() != '/var/task'); raise SystemExit(3)")
    )
    assert code == 3
    assert out.strip() == "True"


def test_memory_rlimit_stops_an_allocation_past_it(tmp_path: Path) -> None:
    script = "try:\n    b = bytearray(400 << 20)\nexcept MemoryError:\n    print('refused')\n"
    code, out = asyncio.run(_run(tmp_path, script, memory_mb=128))
    assert (code, out.strip()) == (0, "refused")


def test_freeze_stops_and_thaw_resumes_the_process_group(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, int]:
        read_end, write_end = os.pipe()
        proc = await RlimitSandbox().spawn(_spec(tmp_path, "while True: pass"), write_end)
        os.close(write_end)
        os.close(read_end)
        await asyncio.sleep(0.2)
        await proc.freeze()
        await asyncio.sleep(0.05)  # let the stop land before the first reading
        frozen_at = proc.cpu_time_ns()
        await asyncio.sleep(0.3)
        still = proc.cpu_time_ns()
        await proc.thaw()
        await asyncio.sleep(0.3)
        after = proc.cpu_time_ns()
        assert proc.max_memory_used_mb() > 0
        await proc.kill()
        return frozen_at, still, after

    frozen_at, still, after = asyncio.run(scenario())
    assert still == frozen_at
    assert after > still


def test_proc_parsers() -> None:
    assert vm_hwm_bytes("Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t100 kB\n") == 2048 * 1024
    stat = "42 (a) b) c) R 1 42 42 0 -1 4194304 0 0 0 0 7 3 2 1 20 0 1 0"
    assert cpu_ticks(stat) == 7 + 3 + 2 + 1


def test_terminate_sends_the_runtime_sigterm(tmp_path: Path) -> None:
    script = (
        "import os, signal, time\n"
        "def term(*_):\n"
        # os.write, not print: the signal may land while print('ready') is still flushing,
        # and re-entering a buffered stream raises.
        "    os.write(1, b'cleaned up\\n')\n"
        "    os._exit(7)\n"
        "signal.signal(signal.SIGTERM, term)\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(1)\n"
    )

    async def scenario() -> tuple[bool, int, str]:
        read_end, write_end = os.pipe()
        proc = await RlimitSandbox().spawn(_spec(tmp_path, script), write_end)
        os.close(write_end)
        with os.fdopen(read_end) as out:
            assert out.readline() == "ready\n"  # the handler is set
            sent = proc.terminate()
            code = await proc.wait()
            await proc.kill()
            return sent, code, out.read()

    assert asyncio.run(scenario()) == (True, 7, "cleaned up\n")
