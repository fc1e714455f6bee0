"""Zygotes (Lamina's SnapStart): forked environments are as isolated as started ones.

Real server, real boto3, real cgroups and namespaces. Each test deploys a SnapStart
function and looks at what its environments see from inside and what the host sees.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Invocation, LaminaProcess, aws_client, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SNAP: dict[str, Any] = {"SnapStart": {"ApplyOn": "PublishedVersions"}}
RESTORE = re.compile(r"Restore Duration: (\d+\.\d{2}) ms\tBilled Restore Duration: (\d+) ms\t")

# The handler that reports what its environment sees, shared with the scheduler tests.
PROBE = (Path(__file__).parents[1] / "scheduler" / "zygote_probe.txt").read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    data: Path = tmp_path_factory.mktemp("lamina-zygote")
    proc = LaminaProcess(data, {"LAMINA_FREEZE_GRACE_S": "0.05"}).start()
    yield proc
    proc.stop()


def restore_of(out: Invocation) -> tuple[float, int] | None:
    m = RESTORE.search(out.log)
    return (float(m.group(1)), int(m.group(2))) if m else None


def two_environments(server: LaminaProcess, name: str) -> list[dict[str, Any]]:
    """Two invokes at once: two environments forked from the same zygote."""
    client = server.lambda_client()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(server.invoke, name, {"sleep": 1.5, "mark": str(i)}, True, client)
            for i in range(2)
        ]
        outs = [f.result() for f in futures]
    for out in outs:
        assert out.function_error is None, out.payload
    return [out.json() for out in outs]


def test_forked_environments_are_isolated_from_each_other(server: LaminaProcess) -> None:
    server.create("zy-iso", python_zip(PROBE), MemorySize=256, Timeout=30, **SNAP)
    a, b = two_environments(server, "zy-iso")
    # Each has its own pid namespace (the runtime is pid 2 under its own init) ...
    for env in (a, b):
        assert env["pid"] == 2
        assert env["pids"] == ["1", "2"]
        assert env["uid"] == 993
        assert env["caps"] == "0000000000000000"
        assert env["task_root"] in ("PermissionError", "OSError")  # read-only code
        assert env["cgroup"] and all(line.endswith(":/") for line in env["cgroup"])
        assert env["init_type"] == "snap-start"
        assert env["log_stream"] is None  # not set in SnapStart functions, as on Lambda
    # ... and its own namespaces, /tmp, Runtime API and random state.
    for kind in ("pid", "mnt", "user", "cgroup", "ipc", "net"):
        assert a["ns"][kind] != b["ns"][kind], kind
    assert a["tmp"] == ["mark"] and b["tmp"] == ["mark"]
    # The same address, as on Lambda, each on its own namespace's loopback.
    assert a["runtime_api"] == b["runtime_api"] == "127.0.0.1:9001"
    assert a["random"] != b["random"]
    assert a["urandom"] != b["urandom"]
    assert a["uuid"] != b["uuid"]
    # What INIT made is shared: that is the snapshot (and why SnapStart is opt-in).
    assert a["init_token"] == b["init_token"]


def _forked(group: str, pids: list[str]) -> bool:
    """A forked environment's group (not the zygote's, ``<name>-z<hex>-...``) holding its
    three processes: the zygote's child that joined the namespaces and waits for the
    runtime, the namespaces' init (made by the zygote's jail) and the runtime."""
    return re.search(r"-z[0-9a-f]{4}-", group) is None and len(pids) == 3


def test_each_forked_environment_has_its_own_limited_cgroup(server: LaminaProcess) -> None:
    server.create("zy-cg", python_zip(PROBE), MemorySize=320, Timeout=30, **SNAP)
    server.invoke("zy-cg", {})  # makes the zygote
    assert server.proc is not None
    root = Path(f"/sys/fs/cgroup/memory/lamina/s{server.proc.pid}")
    if not root.is_dir():
        pytest.skip("this host has no cgroup v1 memory hierarchy to look into")
    client = server.lambda_client()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(server.invoke, "zy-cg", {"sleep": 2.0}, True, client) for _ in range(2)
        ]
        # While both sleep: every group of this function holds its own processes.
        seen: dict[str, list[str]] = {}
        for _ in range(100):
            seen = {
                d.name: (d / "cgroup.procs").read_text().split()
                for d in root.iterdir()
                if d.name.startswith("zy-cg-") and (d / "memory.limit_in_bytes").read_text()
            }
            if sum(1 for name, pids in seen.items() if _forked(name, pids)) >= 2:
                break
            concurrent.futures.wait(futures, timeout=0.05)
        for f in futures:
            assert f.result().function_error is None
    envs = [name for name, pids in seen.items() if _forked(name, pids)]
    assert len(envs) >= 2, seen
    for name in envs:
        limit = int((root / name / "memory.limit_in_bytes").read_text())
        assert limit == 320 * 1024 * 1024
    all_pids = [pid for pids in seen.values() for pid in pids]
    assert len(all_pids) == len(set(all_pids))  # no process is in two groups


def test_hooks_run_in_lambdas_order_and_restores_are_reported(server: LaminaProcess) -> None:
    server.create("zy-hooks", python_zip(PROBE), MemorySize=256, Timeout=30, **SNAP)
    first = server.invoke("zy-hooks", {})
    # The invoke that made the zygote paid INIT, and says so as a normal cold start.
    assert "Init Duration:" in first.log and restore_of(first) is None
    assert first.json()["order"] == ["before-2", "before-1", "after-1", "after-2"]
    crashed = server.invoke("zy-hooks", {"exit": True})  # a crash retires the environment
    assert crashed.json()["errorType"] == "Runtime.ExitError"
    restored = server.invoke("zy-hooks", {})
    assert restored.function_error is None
    # Before-snapshot hooks ran once, in the zygote; after-restore hooks again in this one.
    assert restored.json()["order"] == ["before-2", "before-1", "after-1", "after-2"]
    restore = restore_of(restored)
    assert restore is not None, restored.log
    restore_ms, billed_restore = restore
    assert "Init Duration" not in restored.log
    assert 0 <= billed_restore <= restore_ms + 1
    billed = int(re.search(r"Billed Duration: (\d+) ms", restored.log).group(1))  # type: ignore[union-attr]
    duration = float(re.search(r"\tDuration: ([\d.]+) ms", restored.log).group(1))  # type: ignore[union-attr]
    assert billed >= billed_restore + int(duration)
    warm = server.invoke("zy-hooks", {})
    assert restore_of(warm) is None and "Init Duration" not in warm.log


def test_memory_limit_applies_to_forked_environments(server: LaminaProcess) -> None:
    hog = python_zip("""
        import os

        BASE = bytearray(8 * 1024 * 1024)  # INIT's memory: part of the snapshot

        def handler(event, context):
            if event.get("exit"):
                os._exit(1)
            hoard = [bytearray(1024 * 1024) for _ in range(event.get("mb", 0))]
            return len(hoard)
    """)
    server.create("zy-hog", hog, MemorySize=128, Timeout=20, **SNAP)
    assert server.invoke("zy-hog", {"mb": 1}).json() == 1  # makes the zygote
    # Retire the environment that made it: with no warm environment left, every
    # environment below is forked from the zygote.
    assert server.invoke("zy-hog", {"exit": True}).json()["errorType"] == "Runtime.ExitError"
    client = server.lambda_client()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(server.invoke, "zy-hog", {"mb": 400}, True, client) for _ in range(2)
        ]
        outs = [f.result() for f in futures]
    for out in outs:
        assert restore_of(out) is not None, out.log  # restored from the zygote
        assert "Init Duration" not in out.log
        assert out.function_error == "Unhandled"
        assert out.json()["errorType"] == "Runtime.OutOfMemory"
    assert server.invoke("zy-hog", {"mb": 4}).json() == 4


def test_init_error_in_the_zygote_is_reported_and_retried(server: LaminaProcess) -> None:
    server.create(
        "zy-broken",
        python_zip("import not_a_module\n\ndef handler(event, context):\n    return 1\n"),
        **SNAP,
    )
    for _ in range(2):  # a failed INIT is not cached: the next invoke tries again
        out = server.invoke("zy-broken", {})
        assert out.function_error == "Unhandled"
        assert out.json()["errorType"] == "Runtime.ImportModuleError"


def test_functions_without_snapstart_start_normally(server: LaminaProcess) -> None:
    server.create("zy-plain", python_zip(PROBE), MemorySize=256, Timeout=30)
    out = server.invoke("zy-plain", {})
    assert out.json()["init_type"] == "on-demand"
    assert out.json()["order"] == []  # no snapshot, so no hooks (as on Lambda)
    assert restore_of(out) is None and "Init Duration" in out.log


def stream_messages(server: LaminaProcess, name: str) -> dict[str, list[str]]:
    """Every stream of ``name``'s log group, read with boto3's CloudWatch Logs client."""
    logs, group = aws_client(server, "logs"), f"/aws/lambda/{name}"
    return {
        s["logStreamName"]: [
            e["message"]
            for e in logs.get_log_events(
                logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True
            )["events"]
        ]
        for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
    }


def the_stream_of(streams: dict[str, list[str]], request_id: str) -> list[str]:
    found = [m for m in streams.values() if any(request_id in line for line in m)]
    assert len(found) == 1, streams
    return found[0]


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_a_restore_writes_restore_start_and_restore_report_before_its_start(
    server: LaminaProcess, log_format: str
) -> None:
    """Lambda's SnapStart log stream: the snapshot's INIT begins with INIT_START; an
    environment restored from it begins with RESTORE_START and reports its restore in
    RESTORE_REPORT before the invoke's START, with the REPORT's Restore Duration; neither
    line is in ``LogType=Tail``."""
    name = f"zy-restore-{log_format.lower()}"
    server.create(
        name, python_zip(PROBE), MemorySize=256, LoggingConfig={"LogFormat": log_format}, **SNAP
    )
    server.invoke(name, {})  # makes the zygote
    assert server.invoke(name, {"exit": True}).json()["errorType"] == "Runtime.ExitError"
    restored = server.invoke(name, {})
    restore = restore_of(restored) if log_format == "Text" else None
    assert "RESTORE_" not in restored.log and "platform.restore" not in restored.log
    if log_format == "Text":
        request_id = re.search(r"START RequestId: (\S+)", restored.log).group(1)  # type: ignore[union-attr]
    else:  # the JSON format's START: platform.start
        records = [json.loads(ln) for ln in restored.log.splitlines() if ln.startswith('{"time"')]
        (start,) = (r for r in records if r["type"] == "platform.start")
        request_id = start["record"]["requestId"]
    streams = stream_messages(server, name)
    ours = the_stream_of(streams, request_id)
    start_at = next(i for i, m in enumerate(ours) if request_id in m)
    report_at = next(
        i for i, m in enumerate(ours) if "RESTORE_REPORT" in m or "platform.restoreReport" in m
    )
    assert report_at < start_at
    zygote_streams = [
        m
        for m in streams.values()
        if any("INIT_REPORT" in line or "platform.initReport" in line for line in m)
    ]
    assert len(zygote_streams) == 1, streams
    if log_format == "Text":
        head, sep, arn = ours[0].partition("\tRuntime Version ARN: ")
        assert sep and re.fullmatch(r"RESTORE_START Runtime Version: python:3\.\d+\.v\d+", head)
        assert re.fullmatch(r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}", arn), ours[0]
        assert restore is not None
        assert ours[report_at] == f"RESTORE_REPORT Restore Duration: {restore[0]:.2f} ms"
        assert zygote_streams[0][0].startswith("INIT_START Runtime Version: python:3.")
        assert sum("INIT_START" in m for m in ours) == 0
    else:
        first = json.loads(ours[0])
        assert first["type"] == "platform.restoreStart"
        assert first["record"]["functionName"] == name
        assert first["record"]["functionVersion"] == "$LATEST"
        assert first["record"]["runtimeVersion"].startswith("python:3.")
        report = json.loads(ours[report_at])
        assert report["type"] == "platform.restoreReport"
        assert report["record"]["status"] == "success"
        assert report["record"]["metrics"]["durationMs"] > 0
        assert json.loads(zygote_streams[0][0])["type"] == "platform.initStart"


def test_a_failed_restore_reports_its_status_and_error_type(server: LaminaProcess) -> None:
    failing = python_zip("""
        from snapshot_restore_py import register_after_restore

        @register_after_restore
        def reconnect():
            raise RuntimeError("the database is gone")

        def handler(event, context):
            return "never"
    """)
    server.create("zy-restore-fails", failing, MemorySize=256, **SNAP)
    server.invoke("zy-restore-fails", {})  # makes the zygote (and fails in its own restore)
    out = server.invoke("zy-restore-fails", {})
    assert out.function_error == "Unhandled"
    error_type = out.json()["errorType"]
    reports = [
        line
        for lines in stream_messages(server, "zy-restore-fails").values()
        for line in lines
        if line.startswith("RESTORE_REPORT")
    ]
    assert reports, "no RESTORE_REPORT"
    assert all(
        re.fullmatch(
            rf"RESTORE_REPORT Restore Duration: \d+\.\d\d ms\tStatus: error\tError Type: "
            rf"{re.escape(error_type)}",
            line,
        )
        for line in reports
    ), reports
