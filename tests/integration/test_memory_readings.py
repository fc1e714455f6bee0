"""Max Memory Used means what Lambda's means: the environment's memory as a VM's would be.

Node's hello reads within ±25 % of lambda-perf's AWS figure (75 MB, Node 22): its file
pages count as a fresh page cache would hold them (touched pages widened by readahead),
whatever the host's page cache holds of the node binary, so the test reads the whole
binary into the cache first (the case in which a reading of the host's cached pages
would be too high). Python's hello: at least what the bare interpreter keeps resident on
this host, which a reading that misses the cached file pages of the interpreter (the
cgroup's charge: 7 MB) falls below, and at most AWS's 37 MB + 25 %; the rest of AWS's
37 MB is not page cache (its bootstrap, Python 3.12, its in-VM agent: docs/billing.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.sandbox.filepages import PAGE_BYTES, WindowOf
from tests.integration.harness import LaminaProcess, python_zip

EXAMPLES = Path(__file__).parents[2] / "build" / "examples"
SNAP: dict[str, Any] = {"SnapStart": {"ApplyOn": "PublishedVersions"}}
STATUS_HWM = {
    "python": ["/usr/bin/python3.11", "-c", "print(open('/proc/self/status').read())"],
    "node": ["node", "-e", "console.log(require('fs').readFileSync('/proc/self/status','utf8'))"],
}


def bare_interpreter_mb(language: str) -> float:
    """Peak resident memory of the interpreter doing nothing, outside any sandbox."""
    text = subprocess.run(STATUS_HWM[language], capture_output=True, text=True, check=True)
    line = next(line for line in text.stdout.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    data: Path = tmp_path_factory.mktemp("lamina-memory")
    proc = LaminaProcess(data, {"LAMINA_FREEZE_GRACE_S": "0.05"}).start()
    yield proc
    proc.stop()


def max_used(server: LaminaProcess, name: str, payload: object) -> tuple[int, int]:
    """Max Memory Used of a cold and then a warm invoke."""
    readings = []
    for _ in range(2):
        out = server.invoke(name, payload)
        assert out.function_error is None, out.payload
        readings.append(int(str(out.report()["max"])))
    return readings[0], readings[1]


def read_whole_file(path: str) -> None:
    """Bring a file's every page into the host's page cache (harmless to other work)."""
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


def test_a_python_hello_reads_its_interpreters_resident_memory(server: LaminaProcess) -> None:
    cold, warm = max_used(server, *hello(server, "hello-python", "python3.11", "app.handler"))
    bare = bare_interpreter_mb("python")
    assert bare <= cold <= 37 * 1.25, (cold, bare)
    assert warm >= cold  # a high-water mark over the environment's life


def test_a_node_hello_reads_within_a_quarter_of_lambdas_figure(server: LaminaProcess) -> None:
    node = shutil.which("node")
    assert node is not None
    read_whole_file(node)  # the host's cache holds all of it: the reading must not follow
    cold, warm = max_used(server, *hello(server, "hello-node", "nodejs20.x", "index.handler"))
    assert bare_interpreter_mb("node") <= cold, cold
    assert cold <= warm <= 75 * 1.25, (cold, warm)
    # The file pages are widened by the disk's readahead (the kernel's mmap read-around):
    # AWS's figure is matched with this VM's 8 MB window; with the kernel's default 128 KB
    # the same function reads ~30 MB less (docs/billing.md), and the band does not apply.
    window_kb = WindowOf()(os.stat(node).st_dev) * PAGE_BYTES // 1024
    if window_kb < 2048:
        pytest.skip(f"node's disk reads ahead {window_kb} KB (< 2 MB): Lambda's band not expected")
    assert cold >= 75 * 0.75, (cold, window_kb)


def test_a_rust_hello_reads_less_than_an_interpreter(server: LaminaProcess) -> None:
    cold, warm = max_used(server, *hello(server, "hello-rust", "provided.al2023", "bootstrap"))
    # Its process (~2 MB) and libc; AWS's 15.6 MB is mostly its microVM's own agent and init.
    assert 1 < cold <= warm < bare_interpreter_mb("python"), (cold, warm)


def hello(server: LaminaProcess, example: str, runtime: str, handler: str) -> tuple[str, object]:
    zip_path = EXAMPLES / f"{example}.zip"
    assert zip_path.is_file(), f"{zip_path} missing: run `make examples`"
    name = "mem-" + example
    server.create(name, zip_path.read_bytes(), runtime=runtime, handler=handler)
    return name, {"name": "Lamina"}


def test_a_forked_environment_counts_the_pages_it_shares_with_its_zygote(
    server: LaminaProcess,
) -> None:
    zip_path = EXAMPLES / "hello-python.zip"
    server.create(
        "mem-snap", zip_path.read_bytes(), runtime="python3.11", handler="app.handler", **SNAP
    )
    version = server.lambda_client().publish_version(FunctionName="mem-snap")["Version"]
    first, second = max_used(server, f"mem-snap:{version}", {})
    bare = bare_interpreter_mb("python")
    # Not the zygote's memory added to the child's: the pages they share count once.
    assert bare <= first <= second <= 37 * 1.25, (first, second, bare)


def test_a_function_that_allocates_150_mb_reads_at_least_150_mb(server: LaminaProcess) -> None:
    server.create(
        "mem-hog",
        python_zip("""
        def handler(event, context):
            hoard = bytearray(150 * 1024 * 1024)
            for i in range(0, len(hoard), 4096):
                hoard[i] = 1  # touch every page: resident, not just reserved
            return len(hoard)
        """),
        MemorySize=512,
        Timeout=30,
    )
    first, second = max_used(server, "mem-hog", {})
    assert first >= 150 and second >= 150, (first, second)
    assert first < 512


def test_an_allocation_after_the_first_invokes_still_reads_at_once(
    server: LaminaProcess,
) -> None:
    """Past its first invokes a warm environment's resident sets are not sampled at every
    invoke (lamina.sandbox.resident.resample_due), but the charged peak is read every
    time: a 150 MB allocation shows in the REPORT of the invoke that made it."""
    server.create(
        "mem-late-hog",
        python_zip("""
        def handler(event, context):
            if not event.get("hoard"):
                return 0
            hoard = bytearray(150 * 1024 * 1024)
            for i in range(0, len(hoard), 4096):
                hoard[i] = 1
            return len(hoard)
        """),
        MemorySize=512,
        Timeout=30,
    )
    quiet = []
    for _ in range(12):  # past EAGER_SAMPLES, all in one warm environment
        out = server.invoke("mem-late-hog", {})
        assert out.function_error is None, out.payload
        quiet.append(int(str(out.report()["max"])))
    out = server.invoke("mem-late-hog", {"hoard": True})
    assert out.function_error is None, out.payload
    hoarded = int(str(out.report()["max"]))
    assert max(quiet) < 100, quiet
    assert 150 <= hoarded < 512, (quiet, hoarded)
