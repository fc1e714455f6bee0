"""Other environments' cgroups are invisible: each environment sees its own group as the
root of every hierarchy it is in (a cgroup namespace and fresh cgroup mounts)."""

from __future__ import annotations

import concurrent.futures

import pytest

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = pytest.mark.privileged

CGROUP_PY = """
import os, time

def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as exc:
        return type(exc).__name__

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    groups = []
    for top in sorted(os.listdir("/sys/fs/cgroup")):
        for root, dirs, _files in os.walk(os.path.join("/sys/fs/cgroup", top)):
            groups += [os.path.join(root, d) for d in dirs]
    return {
        "hierarchies": sorted(os.listdir("/sys/fs/cgroup")),
        "groups": groups,
        "self": [l.split(":", 2)[2] for l in _read("/proc/self/cgroup").splitlines()],
        "limit": _read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "mkdir": _mkdir(),
    }

def _mkdir():
    try:
        os.mkdir("/sys/fs/cgroup/memory/escape")
        return "created"
    except OSError as exc:
        return type(exc).__name__
"""


def test_no_other_group_is_visible(lamina: LaminaProcess) -> None:
    lamina.create("sec-cg-a", python_zip(CGROUP_PY), MemorySize=192)
    lamina.create("sec-cg-b", python_zip(CGROUP_PY), MemorySize=256)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        busy = pool.submit(lamina.invoke, "sec-cg-b", {"sleep": 2})  # another live group
        out = lamina.invoke("sec-cg-a", {}).json()
        assert busy.result().status == 200
    assert out["groups"] == []  # not even its own children, nor anyone else's
    assert set(out["self"]) == {"/"}
    assert "memory" in out["hierarchies"]
    # The memory hierarchy's root is its own group: its limit is the function's memory.
    assert out["limit"] == str(192 * 1024 * 1024)
    assert out["mkdir"] in ("OSError", "PermissionError")


def test_forked_environments_see_no_other_group(lamina: LaminaProcess) -> None:
    lamina.create(
        "sec-cg-snap",
        python_zip(CGROUP_PY),
        MemorySize=160,
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    out = lamina.invoke("sec-cg-snap", {}).json()
    assert out["groups"] == []
    assert set(out["self"]) == {"/"}
