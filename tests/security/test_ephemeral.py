"""Ephemeral storage: /tmp is a disk volume of EphemeralStorage's size, not memory."""

from __future__ import annotations

import time

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
