"""A hostile function against Max Memory Used's file walk (lamina.sandbox.filepages).

The walk reads ``/proc/<pid>/maps`` and the ``pagemap`` of every file mapping, on the
server's event loop, so its cost is what the function maps. This function maps a fresh
1 TiB sparse file at every invoke (268 M pagemap entries, never touched; 4.5-4.9 s and
550 MB of the server's memory per walk on the unbounded code, measured by hand: see
docs/billing.md) and adds 2,500 small mappings each time (past 4,096 file mappings and
512 KiB of ``maps`` by its third invoke). Its walks must be refused (the server says so),
its invokes and another function's must answer, and its Max Memory Used must stay a sane
number: at least its interpreter's resident memory, at most its memory size.
"""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = pytest.mark.privileged

# mmap(2) through ctypes: Python's mmap module keeps a descriptor open per mapping, and a
# function may hold only 1,024.
MMAP_PRELUDE = """
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
PROT_READ, MAP_SHARED, MAP_FAILED = 1, 1, 2**64 - 1
"""

HOSTILE_PY = (
    MMAP_PRELUDE
    + """
import os

TERABYTE, PAGE, SMALL = 1 << 40, 4096, 2500
state = {"invokes": 0, "small_fd": None}


def _map(length, fd, offset):
    at = libc.mmap(None, length, PROT_READ, MAP_SHARED, fd, offset)
    if at in (None, MAP_FAILED):
        raise OSError(ctypes.get_errno(), "mmap")
    return at


def handler(event, context):
    n = state["invokes"] = state["invokes"] + 1
    # A fresh sparse terabyte, mapped and never touched, kept mapped (its size changes
    # the process's statm: a walk is due at every invoke).
    path = f"/tmp/sparse-{n}"
    with open(path, "wb") as f:
        f.truncate(TERABYTE)
    fd = os.open(path, os.O_RDONLY)
    _map(TERABYTE, fd, 0)
    os.close(fd)
    os.unlink(path)
    # Many small mappings of one file, every other page (they never merge), each touched.
    if state["small_fd"] is None:
        with open("/tmp/small", "wb") as f:
            f.truncate(64 * SMALL * 2 * PAGE)
        state["small_fd"] = os.open("/tmp/small", os.O_RDONLY)
    for i in range(SMALL):
        at = _map(PAGE, state["small_fd"], ((n - 1) * SMALL + i) * 2 * PAGE)
        ctypes.c_char.from_address(at).value
    with open("/proc/self/maps", "rb") as f:
        maps = f.read()
    return {"invoke": n, "maps_bytes": len(maps), "mappings": maps.count(b"\\n")}
"""
)

ORDINARY_PY = """
def handler(event, context):
    return {"echo": event.get("i")}
"""

MEMORY_MB = 256
HOSTILE_INVOKES = 5


def bare_python_mb() -> float:
    """Peak resident memory of the bare interpreter, outside any sandbox."""
    out = subprocess.run(
        ["/usr/bin/python3.11", "-c", "print(open('/proc/self/status').read())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_a_function_mapping_terabytes_and_thousands_of_files_is_not_walked(
    lamina: LaminaProcess,
) -> None:
    lamina.create("sec-mem-walk", python_zip(HOSTILE_PY), MemorySize=MEMORY_MB, Timeout=60)
    lamina.create("sec-mem-plain", python_zip(ORDINARY_PY), MemorySize=128, Timeout=30)
    assert lamina.invoke("sec-mem-plain", {"i": -1}).json() == {"echo": -1}  # warm

    done = threading.Event()
    plain: list[object] = []

    def ordinary() -> None:
        client = lamina.lambda_client()
        i = 0
        while not done.is_set() or i < 5:
            out = lamina.invoke("sec-mem-plain", {"i": i}, client=client)
            plain.append(out.json() if out.function_error is None else out.payload)
            i += 1

    worker = threading.Thread(target=ordinary, name="ordinary-invokes")
    worker.start()
    hostile = []
    try:
        for _ in range(HOSTILE_INVOKES):
            out = lamina.invoke("sec-mem-walk", {})
            assert out.function_error is None, out.payload
            hostile.append((out.json(), int(str(out.report()["max"]))))
    finally:
        done.set()
        worker.join(timeout=120)
    assert not worker.is_alive()

    # Every invoke answered, in the one warm environment, and the mappings grew as meant.
    assert [body["invoke"] for body, _ in hostile] == list(range(1, HOSTILE_INVOKES + 1))
    last = hostile[-1][0]
    assert last["mappings"] > HOSTILE_INVOKES * 2500 and last["maps_bytes"] > 512 * 1024
    assert plain == [{"echo": i} for i in range(len(plain))]
    # The walk was refused (once per environment at info level) ...
    log = "".join(lamina.output)
    assert "Max Memory Used: pid" in log and "not walked (" in log, log[-4000:]
    # ... and the reading is the function's own memory: not the terabytes it maps, not
    # below the interpreter it runs.
    bare = bare_python_mb()
    for body, used in hostile:
        assert bare <= used < MEMORY_MB, (body, used, bare)  # at it: clipped


# Stays just inside every per-walk bound, in many processes: 3,500 small mappings (under
# 4,096 and 512 KiB of maps), each touched, inherited by six forked children, the
# function touching one more anonymous page at every invoke (its charged peak rises, so
# every invoke samples) and the children mapping one more every few milliseconds, so each
# process is due for a walk that reads all its mappings whenever its interval allows.
# Within each environment's own bounds, several such environments would together take
# the server's loop without the server-wide allowance.
WIDE_PY = (
    MMAP_PRELUDE
    + """
import mmap, os, time

PAGE, SMALL, CHILDREN = 4096, 3500, 6
state = {"prepared": False, "grown": []}


def _prepare():
    path = "/tmp/wide"
    with open(path, "wb") as f:
        f.truncate(2 * SMALL * PAGE)
    fd = os.open(path, os.O_RDONLY)
    for i in range(SMALL):  # every other page: the mappings never merge
        at = libc.mmap(None, PAGE, PROT_READ, MAP_SHARED, fd, 2 * i * PAGE)
        if at in (None, MAP_FAILED):
            raise OSError(ctypes.get_errno(), "mmap")
        ctypes.c_char.from_address(at).value
    os.close(fd)
    for _ in range(CHILDREN):
        if os.fork() == 0:
            grown = []
            while True:
                grown.append(mmap.mmap(-1, PAGE))
                time.sleep(0.005)


def handler(event, context):
    if not state["prepared"]:
        _prepare()
        state["prepared"] = True
    grown = mmap.mmap(-1, PAGE)
    grown[0:1] = b"x"  # touched: the charged peak rises, so invokes sample
    state["grown"].append(grown)
    with open("/proc/self/maps", "rb") as f:
        return {"mappings": f.read().count(b"\\n") >= SMALL}
"""
)

WIDE_FUNCTIONS = 4


def test_many_wide_environments_share_the_servers_sampling_allowance(
    lamina: LaminaProcess,
) -> None:
    """Four functions just inside the per-walk bounds, invoked back to back in parallel:
    every invoke of theirs and of an ordinary function answers, and the server's
    sampling allowance (a tenth of its loop) is what holds their samples back."""
    names = [f"sec-mem-wide-{i}" for i in range(WIDE_FUNCTIONS)]
    for name in names:
        lamina.create(name, python_zip(WIDE_PY), MemorySize=MEMORY_MB, Timeout=60)
    lamina.create("sec-mem-plain-2", python_zip(ORDINARY_PY), MemorySize=128, Timeout=30)
    done = threading.Event()
    answers: dict[str, list[object]] = {name: [] for name in [*names, "sec-mem-plain-2"]}

    def invoke_until_done(name: str) -> None:
        client = lamina.lambda_client()
        i = 0
        while not done.is_set() or i < 5:
            out = lamina.invoke(name, {"i": i}, client=client)
            answers[name].append(out.json() if out.function_error is None else out.payload)
            i += 1

    workers = [
        threading.Thread(target=invoke_until_done, args=(name,), name=name) for name in answers
    ]
    for worker in workers:
        worker.start()
    log = ""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = "".join(lamina.output)
            if "took their share of the server's loop" in log:
                break
            time.sleep(0.2)
    finally:
        done.set()
        for worker in workers:
            worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    assert "took their share of the server's loop" in log, log[-4000:]
    for name in names:
        assert answers[name] and all(a == {"mappings": True} for a in answers[name]), (
            name,
            answers[name][:3],
        )
    plain = answers["sec-mem-plain-2"]
    assert plain == [{"echo": i} for i in range(len(plain))]
