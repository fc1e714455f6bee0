"""Ephemeral storage: /tmp is a disk volume of EphemeralStorage's size, not memory."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = pytest.mark.privileged

FILL_PY = """
import errno, os

def handler(event, context):
    st = os.statvfs("/tmp")
    written = 0
    chunk = b"x" * (1 << 20)
    error = None
    try:
        with open("/tmp/fill", "wb") as f:
            while written < event["mb"] << 20:
                f.write(chunk)
                written += len(chunk)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        error = errno.errorcode.get(exc.errno, str(exc.errno))
    os.unlink("/tmp/fill")
    return {"size_mb": st.f_blocks * st.f_frsize >> 20, "written_mb": written >> 20,
            "error": error}
"""


def test_tmp_is_on_disk_and_not_charged_to_memory(lamina: LaminaProcess) -> None:
    lamina.create("sec-eph-big", python_zip(FILL_PY), MemorySize=128, Timeout=60)
    out = lamina.invoke("sec-eph-big", {"mb": 300})
    assert out.function_error is None, out.payload  # a tmpfs would be OOM at 128 MB
    body = out.json()
    assert body["error"] is None and body["written_mb"] == 300
    assert 480 <= body["size_mb"] <= 512


def test_writing_past_the_size_fails_with_enospc(lamina: LaminaProcess) -> None:
    lamina.create(
        "sec-eph-full",
        python_zip(FILL_PY),
        MemorySize=128,
        Timeout=60,
        EphemeralStorage={"Size": 600},
    )
    body = lamina.invoke("sec-eph-full", {"mb": 700}).json()
    assert body["error"] == "ENOSPC"
    assert 560 <= body["size_mb"] <= 600
    assert 500 <= body["written_mb"] < 600


def test_a_volume_is_deleted_with_its_environment(lamina: LaminaProcess) -> None:
    volumes = lamina.data_dir / "ephemeral"
    lamina.create("sec-eph-gone", python_zip(FILL_PY), EphemeralStorage={"Size": 700})
    assert lamina.invoke("sec-eph-gone", {"mb": 1}).json()["error"] is None
    sized = [p for p in volumes.glob("*.img") if p.stat().st_size == 700 << 20]
    assert len(sized) == 1
    image = sized[0]
    # Sparse: only what was written takes disk blocks.
    assert image.stat().st_blocks * 512 < 100 << 20
    lamina.lambda_client().delete_function(FunctionName="sec-eph-gone")
    deadline = time.monotonic() + 30
    while image.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not image.exists()


SNAP_FILL_PY = (
    FILL_PY
    + """
_handler = handler

def handler(event, context):
    out = _handler(event, context)
    dev = os.stat("/tmp").st_dev
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            major, minor = map(int, fields[2].split(":"))
            if fields[4] == "/tmp" and os.makedev(major, minor) == dev:
                out["fstype"] = fields[fields.index("-") + 1]
    with open("/proc/1/cmdline", "rb") as f:
        out["init"] = f.read().decode(errors="replace")
    return out
"""
)
SNAP: dict[str, Any] = {"SnapStart": {"ApplyOn": "PublishedVersions"}}


def test_forked_environments_get_a_disk_volume_too(lamina: LaminaProcess) -> None:
    """SnapStart: an environment forked from a zygote writes 200 MB to /tmp at 128 MB of
    memory (a tmpfs /tmp would be OOM-killed) and gets ENOSPC at its EphemeralStorage."""
    lamina.create("sec-eph-snap", python_zip(SNAP_FILL_PY), MemorySize=128, Timeout=60, **SNAP)
    out = lamina.invoke("sec-eph-snap", {"mb": 200})
    assert out.function_error is None, out.payload
    body = out.json()
    assert "zygote" in body["init"]  # pid 1 is the zygote's fork, not lamina-init
    assert body["fstype"] == "ext4"
    assert body["error"] is None and body["written_mb"] == 200
    assert 480 <= body["size_mb"] <= 512
    lamina.create(
        "sec-eph-snap-full",
        python_zip(SNAP_FILL_PY),
        MemorySize=128,
        Timeout=60,
        EphemeralStorage={"Size": 640},
        **SNAP,
    )
    body = lamina.invoke("sec-eph-snap-full", {"mb": 700}).json()
    assert "zygote" in body["init"]
    assert body["error"] == "ENOSPC" and body["fstype"] == "ext4"
    assert 600 <= body["size_mb"] <= 640
    assert 540 <= body["written_mb"] < 640
    # The forked environment's volume goes with it.
    volumes = lamina.data_dir / "ephemeral"
    sized = [p for p in volumes.glob("*.img") if p.stat().st_size == 640 << 20]
    assert len(sized) == 1
    lamina.lambda_client().delete_function(FunctionName="sec-eph-snap-full")
    deadline = time.monotonic() + 30
    while sized[0].exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sized[0].exists()
