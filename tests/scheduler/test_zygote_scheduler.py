"""Zygotes through the scheduler, on real cgroups and namespaces (needs root).

The same checks as ``tests/integration/test_zygote.py`` one layer down: no HTTP API, the
scheduler drives a real process sandbox, zygote and forked environments.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from lamina.config import Settings
from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord, InvokeResult
from lamina.runtimes.registry import RuntimeRegistry
from lamina.sandbox import create_sandbox
from lamina.sandbox.process_tier import ProcessSandbox
from lamina.scheduler.driver import InvokeRequest, Scheduler

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

RESTORE = re.compile(r"Restore Duration: (\d+\.\d{2}) ms\tBilled Restore Duration: (\d+) ms\t")
PROBE = Path(__file__).with_name("zygote_probe.txt").read_text()


@asynccontextmanager
async def scheduler(
    tmp: Path, source: str, **settings_overrides: Any
) -> AsyncIterator[tuple[Scheduler, list[InvocationRecord]]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    settings = Settings(
        data_dir=tmp / "data", isolation="process", freeze_grace_s=0.05, **settings_overrides
    )
    sandbox = create_sandbox(settings, cgroup_group=f"lamina-test-z{os.getpid()}")
    if not isinstance(sandbox, ProcessSandbox):
        pytest.skip("no process tier here")
    code = tmp / "code"
    code.mkdir(mode=0o755)
    (code / "app.py").write_text(textwrap.dedent(source))
    (code / "app.py").chmod(0o644)
    records: list[InvocationRecord] = []
    sch = Scheduler(
        settings,
        sandbox,
        RuntimeRegistry({}),
        lambda _sha: code,
        LogStore(tmp / "logs"),
        records.append,
    )
    sch.start()
    try:
        yield sch, records
    finally:
        await sch.close()
        sandbox.close()


def config(name: str, memory_mb: int = 256, snap_start: bool = True) -> FunctionConfig:
    return FunctionConfig(
        name, "python3.11", "app.handler", "sha", 1, memory_mb=memory_mb, timeout_s=30,
        snap_start=snap_start, revision_id="r1",
    )  # fmt: skip


def invoker(
    sch: Scheduler, cfg: FunctionConfig
) -> Callable[[dict[str, Any]], Awaitable[InvokeResult]]:
    async def invoke(event: dict[str, Any]) -> InvokeResult:
        return await sch.invoke(
            InvokeRequest(cfg, json.dumps(event).encode(), "arn:test", tail=True)
        )

    return invoke


def restore_of(result: InvokeResult) -> tuple[float, int] | None:
    m = RESTORE.search(result.log_tail.decode())
    return (float(m.group(1)), int(m.group(2))) if m else None


def groups(root: Path) -> dict[str, list[str]]:
    """The processes of each environment group under ``root`` (kernel state: polled)."""
    return {d.name: (d / "cgroup.procs").read_text().split() for d in root.iterdir() if d.is_dir()}


def run(scenario: Awaitable[Any]) -> Any:
    return asyncio.run(scenario)  # type: ignore[arg-type]


def test_forked_environments_are_isolated_and_differ_in_random_state(tmp_path: Path) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with scheduler(tmp_path, PROBE) as (sch, _):
            invoke = invoker(sch, config("zs_iso"))
            outs = await asyncio.gather(*(invoke({"sleep": 1.0, "mark": str(i)}) for i in range(2)))
            assert all(o.function_error is None for o in outs), [o.payload for o in outs]
            return [json.loads(o.payload) for o in outs]

    a, b = run(scenario())
    for env in (a, b):
        assert env["pid"] == 2 and env["pids"] == ["1", "2"]  # own pid namespace
        assert env["uid"] == 993 and env["caps"] == "0000000000000000"
        assert env["task_root"] in ("PermissionError", "OSError")  # read-only code
        assert env["cgroup"] and all(line.endswith(":/") for line in env["cgroup"])
        assert env["init_type"] == "snap-start" and env["log_stream"] is None
        assert env["tmp"] == ["mark"]  # only its own file in its /tmp
    for kind in ("pid", "mnt", "user", "cgroup", "ipc", "uts", "net"):
        assert a["ns"][kind] != b["ns"][kind], kind
    # The same address, as on Lambda, each on its own namespace's loopback.
    assert a["runtime_api"] == b["runtime_api"] == "127.0.0.1:9001"
    assert (a["random"], a["urandom"], a["uuid"]) != (b["random"], b["urandom"], b["uuid"])
    assert a["random"] != b["random"] and a["uuid"] != b["uuid"]
    assert a["init_token"] == b["init_token"]  # INIT's own state is the snapshot's


def _forked(group: str, pids: list[str]) -> bool:
    """A forked environment's group (not the zygote's, ``<name>-z<hex>-...``) holding its
    three processes: the zygote's child that joined the namespaces and waits for the
    runtime, the namespaces' init (made by the zygote's jail) and the runtime."""
    return re.search(r"-z[0-9a-f]{4}-", group) is None and len(pids) == 3


def test_forked_environments_without_own_network_or_volumes(tmp_path: Path) -> None:
    """Network isolation off and no /tmp volumes: the zygote's init makes no network
    namespace and mounts a tmpfs /tmp; everything else is as isolated as ever."""

    async def scenario() -> list[dict[str, Any]]:
        async with scheduler(tmp_path, PROBE, network_isolation=False, ephemeral_on_disk=False) as (
            sch,
            _,
        ):
            invoke = invoker(sch, config("zs_plain"))
            outs = await asyncio.gather(*(invoke({"sleep": 1.0, "mark": str(i)}) for i in range(2)))
            assert all(o.function_error is None for o in outs), [o.payload for o in outs]
            return [json.loads(o.payload) for o in outs]

    a, b = run(scenario())
    for env in (a, b):
        assert env["pid"] == 2 and env["pids"] == ["1", "2"]
        assert env["uid"] == 993 and env["caps"] == "0000000000000000"
        assert env["tmp"] == ["mark"]
        assert env["runtime_api"] != "127.0.0.1:9001"  # a port of the host's loopback
    for kind in ("pid", "mnt", "user", "cgroup", "ipc", "uts"):
        assert a["ns"][kind] != b["ns"][kind], kind
    assert a["ns"]["net"] == b["ns"]["net"]  # the host's


def test_each_forked_environment_has_its_own_limited_cgroup(tmp_path: Path) -> None:
    async def scenario() -> dict[str, list[str]]:
        async with scheduler(tmp_path, PROBE) as (sch, _):
            invoke = invoker(sch, config("zs_cg", memory_mb=320))
            await invoke({})
            tasks = [asyncio.ensure_future(invoke({"sleep": 1.5})) for _ in range(2)]
            root = Path(f"/sys/fs/cgroup/memory/lamina-test-z{os.getpid()}")
            seen: dict[str, list[str]] = {}
            for _ in range(200):
                await asyncio.sleep(0.01)
                seen = groups(root)
                if sum(1 for name, p in seen.items() if _forked(name, p)) >= 2:
                    break
            for t in tasks:
                assert (await t).function_error is None
            limits = {
                name: int((root / name / "memory.limit_in_bytes").read_text()) for name in seen
            }
            assert all(v == 320 * 1024 * 1024 for v in limits.values()), limits
            return seen

    if not Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        pytest.skip("no cgroup v1 memory hierarchy to look into")
    seen = run(scenario())
    forked = [pids for name, pids in seen.items() if _forked(name, pids)]
    assert len(forked) >= 2, seen
    every = [pid for pids in seen.values() for pid in pids]
    assert len(every) == len(set(every))  # no process in two environments' groups


def test_hooks_run_in_lambdas_order_and_restores_are_reported_and_billed(tmp_path: Path) -> None:
    async def scenario() -> list[InvokeResult]:
        async with scheduler(tmp_path, PROBE) as (sch, records):
            invoke = invoker(sch, config("zs_hooks"))
            outs = [
                await invoke({}),
                await invoke({"exit": True}),
                await invoke({}),
                await invoke({}),
            ]
            assert len(records) == 4
            restored = records[2]
            restore = restore_of(outs[2])
            assert restore is not None
            assert restored.init_ms is None
            assert restored.billed_ms == max(1, -(-(restored.duration_ms + restore[1]) // 1))
            return outs

    first, crashed, restored, warm = run(scenario())
    assert "Init Duration:" in first.log_tail.decode() and restore_of(first) is None
    assert json.loads(first.payload)["order"] == ["before-2", "before-1", "after-1", "after-2"]
    assert json.loads(crashed.payload)["errorType"] == "Runtime.ExitError"
    assert json.loads(restored.payload)["order"] == ["before-2", "before-1", "after-1", "after-2"]
    restore = restore_of(restored)
    assert restore is not None and "Init Duration" not in restored.log_tail.decode()
    assert 0 <= restore[1] <= restore[0] + 1
    assert restore_of(warm) is None and "Init Duration" not in warm.log_tail.decode()


def test_memory_limit_applies_to_forked_environments(tmp_path: Path) -> None:
    hog = """
        BASE = bytearray(8 * 1024 * 1024)  # INIT's memory: part of the snapshot

        def handler(event, context):
            hoard = [bytearray(1024 * 1024) for _ in range(event.get("mb", 0))]
            return len(hoard)
    """

    async def scenario() -> list[InvokeResult]:
        async with scheduler(tmp_path, hog) as (sch, _):
            invoke = invoker(sch, config("zs_hog", memory_mb=128))
            assert json.loads((await invoke({"mb": 1})).payload) == 1
            await invoke({"exit": True})  # not an event the hog knows: still fine
            oom = [await invoke({"mb": 400})]
            oom.append(await invoke({"mb": 2}))
            return oom

    # The first invoke made the zygote; the OOM one is a restored environment.
    oom, after = run(scenario())
    assert oom.function_error == "Unhandled"
    assert json.loads(oom.payload)["errorType"] == "Runtime.OutOfMemory"
    assert json.loads(after.payload) == 2


def test_init_error_in_the_zygote_is_reported_and_retried(tmp_path: Path) -> None:
    broken = "import not_a_module\n\ndef handler(event, context):\n    return 1\n"

    async def scenario() -> list[InvokeResult]:
        async with scheduler(tmp_path, broken) as (sch, _):
            invoke = invoker(sch, config("zs_broken"))
            return [await invoke({}), await invoke({})]

    for out in run(scenario()):  # a failed INIT is not kept: the next invoke tries again
        assert out.function_error == "Unhandled"
        assert json.loads(out.payload)["errorType"] == "Runtime.ImportModuleError"


def test_functions_without_snapstart_start_normally(tmp_path: Path) -> None:
    async def scenario() -> InvokeResult:
        async with scheduler(tmp_path, PROBE) as (sch, _):
            return await invoker(sch, config("zs_plain", snap_start=False))({})

    out = run(scenario())
    body = json.loads(out.payload)
    assert body["init_type"] == "on-demand" and body["order"] == []
    assert restore_of(out) is None and "Init Duration" in out.log_tail.decode()


SLEEPER = (
    "import time\n\ndef handler(event, context):\n    time.sleep(event['sleep'])\n    return {}\n"
)
# What each fork may leave charged to its zygote's memory cgroup (measured with
# `python -m bench.zygote_charge`: ~0-25 KB a fork now; ~360 KB when the fork joined its
# own groups only after it was made, ~920 KB when the zygote's init also made each
# environment's namespaces from the zygote's group).
MAX_ZYGOTE_CHARGE_PER_FORK = 100 * 1024


def test_forks_are_charged_to_their_own_groups_not_the_zygotes(tmp_path: Path) -> None:
    """Sixty environments forked from one 128 MB zygote, forty at once and twenty while the
    zygote is idle between requests: the zygote's own group grows by less than
    ``MAX_ZYGOTE_CHARGE_PER_FORK`` a fork. The kernel charges what a fork costs (its task
    and page tables, the pages copied on write, its namespaces) to the group of the task
    that makes it at that moment and never moves it (cgroup v1); a zygote forking from its
    own group would be killed by its own limit after a few hundred forks."""
    root = Path(f"/sys/fs/cgroup/memory/lamina-test-z{os.getpid()}")

    def zygote_usage() -> int:
        (group,) = (d for d in root.iterdir() if re.search(r"-z[0-9a-f]{4}-", d.name))
        return int((group / "memory.usage_in_bytes").read_text())

    async def scenario() -> tuple[int, int, list[InvokeResult]]:
        async with scheduler(tmp_path, SLEEPER) as (sch, _):
            invoke = invoker(sch, config("zs_charge", memory_mb=128))
            await invoke({"sleep": 0})  # makes the zygote
            await asyncio.sleep(0.5)
            before = zygote_usage()
            burst = [asyncio.ensure_future(invoke({"sleep": 3.0})) for _ in range(40)]
            staggered = []
            for i in range(20):
                await asyncio.sleep(0.03)
                staggered.append(asyncio.ensure_future(invoke({"sleep": 2.0 - i * 0.03})))
            results = await asyncio.gather(*burst, *staggered)
            return before, zygote_usage(), results  # the environments are still alive

    if not Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        pytest.skip("no cgroup v1 memory hierarchy to look into")
    before, after, results = run(scenario())
    assert all(r.function_error is None for r in results), [r.payload for r in results]
    restored = sum(1 for r in results if restore_of(r) is not None)
    assert restored >= 50, restored  # nearly all forked (a few may be started instead)
    assert (after - before) / restored < MAX_ZYGOTE_CHARGE_PER_FORK, (before, after, restored)
