"""/tmp volumes: made from a template, mounted detached, never in the host's mount table."""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.sandbox.ephemeral import Volume, VolumePool, loop_config
from tests.unavailable import unavailable

pytestmark = pytest.mark.privileged

UID = GID = 993


def test_loop_config_is_the_kernels_layout_with_autoclear() -> None:
    config = loop_config(7)
    assert len(config) == 304  # sizeof(struct loop_config)
    assert struct.unpack_from("=II", config) == (7, 0)
    # lo_flags: after fd and block_size (8), five u64 (40) and three u32 (12).
    assert struct.unpack_from("=I", config, 8 + 40 + 12)[0] == 4  # LO_FLAGS_AUTOCLEAR


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[VolumePool]:
    if os.geteuid() != 0:
        unavailable("loop devices and mounts need root")
    made = VolumePool(tmp_path / "ephemeral", UID, GID, ready=0)
    yield made
    made.close()


def _mounts_under(base: Path) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(str(base))]


def _loop_backing_files() -> set[str]:
    out = set()
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            out.add(backing.read_text().strip())
        except OSError:
            continue  # the device cleared itself meanwhile
    return out


def _take(pool: VolumePool, size_mb: int) -> Volume:
    volume = asyncio.run(pool.take(size_mb))
    assert volume is not None
    return volume


def test_volumes_are_fresh_separate_filesystems_outside_the_host_mount_table(
    pool: VolumePool,
) -> None:
    a, b = _take(pool, 512), _take(pool, 512)
    assert _mounts_under(pool.base) == []  # detached: no host mount to copy per jail
    root_a, root_b = f"/proc/self/fd/{a.fd}", f"/proc/self/fd/{b.fd}"
    for root in (root_a, root_b):
        st = os.stat(root)
        assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o1777, UID, GID)
        assert os.listdir(root) == []  # no lost+found
        vfs = os.statvfs(root)
        assert 480 << 20 <= vfs.f_blocks * vfs.f_frsize <= 512 << 20
    Path(root_a, "secret").write_bytes(b"a's data")
    assert os.listdir(root_b) == []  # copies of one template, not one filesystem
    c = _take(pool, 600)  # another size: its own template
    vfs = os.statvfs(f"/proc/self/fd/{c.fd}")
    assert 560 << 20 <= vfs.f_blocks * vfs.f_frsize <= 600 << 20
    assert sorted(p.name for p in pool.base.glob("*.img")) == sorted(
        v.image.name for v in (a, b, c)
    )
    for v in (a, b, c):
        pool.release(v)


def test_a_released_volume_frees_its_image_and_loop_device(pool: VolumePool) -> None:
    volume = _take(pool, 512)
    assert str(volume.image) in _loop_backing_files()
    pool.release(volume)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        volume.image.exists() or any(str(volume.image) in f for f in _loop_backing_files())
    ):
        time.sleep(0.05)
    assert not volume.image.exists()
    assert not any(str(volume.image) in f for f in _loop_backing_files())
