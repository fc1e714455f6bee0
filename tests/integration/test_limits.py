"""Memory, CPU, /tmp and the read-only task root, enforced by the sandbox."""

from __future__ import annotations

import concurrent.futures

import pytest

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


def test_memory_limit_ends_in_out_of_memory_and_the_next_invoke_works(
    lamina: LaminaProcess,
) -> None:
    lamina.create(
        "limits-hog",
        python_zip("""
        def handler(event, context):
            hoard = []
            for _ in range(event.get("mb", 0)):
                hoard.append(bytearray(1024 * 1024))
            return len(hoard)
    """),
        MemorySize=128,
        Timeout=20,
    )
    out = lamina.invoke("limits-hog", {"mb": 400})
    assert out.function_error == "Unhandled"
    assert out.json()["errorType"] == "Runtime.OutOfMemory"
    assert int(out.report()["max"] or 0) >= 120
    ok = lamina.invoke("limits-hog", {"mb": 10})
    assert ok.json() == 10


def test_cpu_is_proportional_to_memory(lamina: LaminaProcess) -> None:
    burner = python_zip("""
        def handler(event, context):
            n = 0
            for i in range(event["loops"]):
                n += i * i
            return n
    """)
    lamina.create("limits-cpu-128", burner, MemorySize=128, Timeout=120)
    lamina.create("limits-cpu-1769", burner, MemorySize=1769, Timeout=120)
    loops = 3_000_000
    for name in ("limits-cpu-128", "limits-cpu-1769"):  # warm both first
        lamina.invoke(name, {"loops": 1000})
    # 1769/128 = 13.8. Other work on a shared 2-core machine slows the 1769 MB run (it
    # wants a whole CPU) more than the 128 MB one (held to its quota anyway), narrowing the
    # ratio for a while: the band must hold in one of three runs. Without a CPU limit the
    # ratio is ~1 in every run.
    seen: list[str] = []
    for _ in range(3):
        slow = float(lamina.invoke("limits-cpu-128", {"loops": loops}).report()["duration"] or 0)
        fast = float(lamina.invoke("limits-cpu-1769", {"loops": loops}).report()["duration"] or 0)
        ratio = slow / fast
        seen.append(f"128 MB took {slow:.0f} ms, 1769 MB {fast:.0f} ms (ratio {ratio:.1f})")
        if 5 < ratio < 30:
            return
    pytest.fail("; ".join(seen))


def test_tmp_is_private_per_environment_and_survives_warm_invokes(lamina: LaminaProcess) -> None:
    lamina.create(
        "limits-tmp",
        python_zip("""
        import os, time, uuid
        MINE = str(uuid.uuid4())
        def handler(event, context):
            open(f"/tmp/{MINE}", "w").write("x")
            time.sleep(event.get("sleep", 0))
            return {"mine": MINE, "files": sorted(os.listdir("/tmp"))}
    """),
        Timeout=10,
    )
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: lamina.invoke("limits-tmp", {"sleep": 1}).json(), range(2))
    assert a["mine"] != b["mine"], "two concurrent invokes shared an environment"
    assert a["files"] == [a["mine"]] and b["files"] == [b["mine"]]
    again = lamina.invoke("limits-tmp", {}).json()
    assert again["files"] == [again["mine"]]


def test_the_task_root_is_read_only_and_secrets_are_hidden(lamina: LaminaProcess) -> None:
    lamina.create(
        "limits-probe",
        python_zip("""
        import os
        def attempt(fn):
            try:
                fn()
                return "allowed"
            except OSError as exc:
                return type(exc).__name__
        def listing(path):
            try:
                return os.listdir(path)
            except OSError as exc:
                return type(exc).__name__
        def handler(event, context):
            root = os.environ["LAMBDA_TASK_ROOT"]
            return {
                "root": root,
                "write_task_root": attempt(lambda: open(os.path.join(root, "x"), "w")),
                "uid": os.getuid(),
                "pid": os.getpid(),
                "data_dir": listing(event["data_dir"]),
                "host_procs": len([p for p in os.listdir("/proc") if p.isdigit()]),
            }
    """),
    )
    out = lamina.invoke("limits-probe", {"data_dir": str(lamina.data_dir)}).json()
    assert out["root"] == "/var/task"
    assert out["write_task_root"] != "allowed"
    assert out["uid"] != 0
    assert "lamina.db" not in out["data_dir"], "the function can read Lamina's data"
    assert out["host_procs"] < 10, "the function can see host processes"


def test_init_runs_with_a_cpu_boost_and_invokes_with_the_memory_share(
    lamina: LaminaProcess,
) -> None:
    # The same CPU work, once at import time (INIT) and once in the handler, at 128 MB.
    code = python_zip("""
        import time
        def work():
            start = time.monotonic()
            n = 0
            for i in range(1_500_000):
                n += i * i
            return (time.monotonic() - start) * 1000
        INIT_MS = work()
        def handler(event, context):
            return {"init_ms": INIT_MS, "invoke_ms": work()}
    """)
    # 128 MB is 7 % of a CPU: the handler's run is an order of magnitude slower than INIT's.
    # Other work on a shared machine slows the boosted INIT too, so the ratio must hold for
    # one of three fresh environments (without the boost it is ~1 in every one).
    seen = []
    for attempt in range(3):
        name = f"limits-boost-{attempt}"
        lamina.create(name, code, MemorySize=128, Timeout=60)
        out = lamina.invoke(name, {}).json()
        seen.append(out)
        if out["invoke_ms"] / out["init_ms"] > 5:
            return
    pytest.fail(f"no run showed the INIT boost: {seen}")
