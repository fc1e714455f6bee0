"""What the code store refuses: zip-slip, escaping links, bombs, garbage, too many entries."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from lamina.errors import InvalidParameterValue, InvalidZipFile, RequestTooLarge
from lamina.store.code import CodeStore, ZipLimits
from lamina.store.zipcheck import NOT_A_ZIP, SizeBudget

Member = tuple[str, bytes, int]  # name, content, unix mode (with file type bits)


def make_zip(members: list[Member], *, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compress) as zf:
        for name, content, mode in members:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = compress
            zf.writestr(info, content)
    return buffer.getvalue()


def file(name: str, content: bytes = b"x", mode: int = 0o644) -> Member:
    return (name, content, stat.S_IFREG | mode)


def link(name: str, target: str) -> Member:
    return (name, target.encode(), stat.S_IFLNK | 0o777)


def patch_central_size(data: bytes, size: int) -> bytes:
    """Rewrite the first entry's uncompressed size in the central directory (a lying header)."""
    at = data.index(b"PK\x01\x02")
    return data[: at + 24] + struct.pack("<L", size) + data[at + 28 :]


def patch_central_flags(data: bytes, flags: int) -> bytes:
    at = data.index(b"PK\x01\x02")
    return data[: at + 8] + struct.pack("<H", flags) + data[at + 10 :]


@pytest.fixture
def store(tmp_path: Path) -> CodeStore:
    return CodeStore(tmp_path / "code")


def stored_files(store: CodeStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "name",
    ["../x", "/etc/x", "a/../../x", "a/../b", "C:/x", "c:x", "..\\x", "a\\..\\..\\x", "./../x"],
)
def test_zip_slip_entry_is_rejected_and_named(store: CodeStore, name: str) -> None:
    data = make_zip([file("ok.py"), file(name)])
    with pytest.raises(InvalidZipFile) as err:
        store.put_zip(data)
    assert repr(name) in err.value.message
    assert err.value.status == 502
    assert stored_files(store) == []


def test_nul_in_entry_name_is_rejected(store: CodeStore) -> None:
    # zipfile cuts names at a NUL when writing, so put the NUL in afterwards.
    data = make_zip([file("a.pyZ/../../x")]).replace(b"a.pyZ", b"a.py\x00")
    with pytest.raises(InvalidZipFile, match="NUL"):
        store.put_zip(data)


@pytest.mark.parametrize(
    "members",
    [
        [link("l", "../../etc/passwd")],
        [link("l", "/etc/passwd")],
        [link("a/b/l", "../../../x")],
        # Lexically inner, but l2 is the root, so l2/.. is the root's parent.
        [link("l2", "."), link("l1", "l2/../x")],
        [link("d/l2", ".."), link("l1", "d/l2/../x")],
        # A loop never resolves: refused as well.
        [link("a", "b"), link("b", "a")],
    ],
)
def test_symlink_resolving_outside_is_rejected(store: CodeStore, members: list[Member]) -> None:
    with pytest.raises(InvalidZipFile, match="symbolic link"):
        store.put_zip(make_zip([file("app.py"), *members]))
    assert stored_files(store) == []


def test_writing_through_a_symlink_is_rejected(store: CodeStore) -> None:
    data = make_zip([link("l", "sub"), file("sub/keep"), file("l/x")])
    with pytest.raises(InvalidZipFile, match="not a directory"):
        store.put_zip(data)


def test_duplicate_entry_is_rejected(store: CodeStore) -> None:
    with pytest.raises(InvalidZipFile, match="more than once"):
        store.put_zip(make_zip([file("a/b.py"), file("a//b.py")]))


def test_non_zip_is_rejected_with_lambda_message(store: CodeStore) -> None:
    with pytest.raises(InvalidZipFile) as err:
        store.put_zip(b"this is not a zip file at all")
    assert err.value.message == NOT_A_ZIP
    assert err.value.error_type == "InvalidZipFileException"


def test_truncated_zip_is_rejected(store: CodeStore) -> None:
    data = make_zip([file("a.py", b"print(1)\n" * 1000)])
    with pytest.raises(InvalidZipFile, match="Could not unzip uploaded file"):
        store.put_zip(data[: len(data) // 2])


def test_corrupted_data_is_rejected(store: CodeStore) -> None:
    data = bytearray(make_zip([file("a.py", bytes(range(256)) * 64)]))
    start = data.index(b"a.py") + 4 + 10  # a few bytes into the compressed stream
    data[start : start + 16] = b"\xff" * 16
    with pytest.raises(InvalidZipFile, match="Could not unzip uploaded file"):
        store.put_zip(bytes(data))


def test_encrypted_entry_is_rejected(store: CodeStore) -> None:
    data = patch_central_flags(make_zip([file("a.py")]), 0x1)
    with pytest.raises(InvalidZipFile, match="encrypted"):
        store.put_zip(data)


def test_zip_bomb_by_declared_size_is_rejected(store: CodeStore) -> None:
    data = patch_central_size(make_zip([file("big.bin", b"small")]), 300_000_000)
    with pytest.raises(InvalidParameterValue) as err:
        store.put_zip(data)
    assert err.value.message == "Unzipped size must be smaller than 262144000 bytes"
    assert err.value.status == 400


def test_zip_bomb_over_a_configured_limit_is_rejected(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code", limits=ZipLimits(max_unzipped_bytes=1_000_000))
    data = make_zip([file("a.bin", bytes(600_000)), file("b.bin", bytes(600_000))])
    with pytest.raises(InvalidParameterValue, match="smaller than 1000000 bytes"):
        store.put_zip(data)


def test_lying_header_is_rejected_while_counting_real_bytes(store: CodeStore) -> None:
    # 2 MB of zeros whose central directory claims 1000 bytes: the declared total passes,
    # the real bytes give the lie away as soon as they pass 1000.
    data = patch_central_size(make_zip([file("big.bin", bytes(2_000_000))]), 1000)
    with pytest.raises(InvalidZipFile, match="more than the 1000 bytes its header declares"):
        store.put_zip(data)
    assert stored_files(store) == []


@pytest.mark.slow
def test_lying_header_bomb_at_lambda_scale_is_rejected(store: CodeStore) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("bomb.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=False) as out:
            for _ in range(300):
                out.write(bytes(1_000_000))
    data = patch_central_size(buffer.getvalue(), 4096)
    assert len(data) < 1_000_000
    with pytest.raises(InvalidZipFile, match="header declares"):
        store.put_zip(data)


def test_size_budget_counts_real_bytes() -> None:
    budget = SizeBudget(10)
    budget.spend(6)
    budget.spend(4)
    with pytest.raises(InvalidParameterValue, match="smaller than 10 bytes"):
        budget.spend(1)


def test_too_many_entries_is_rejected(store: CodeStore) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for i in range(20_001):
            zf.writestr(f"f{i}", b"")
    with pytest.raises(InvalidZipFile, match="20001 entries; at most 20000"):
        store.put_zip(buffer.getvalue())


def test_zipped_upload_over_the_limit_is_rejected(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code", limits=ZipLimits(max_zipped_bytes=100))
    data = make_zip([file("a.bin", bytes(range(256)))], compress=zipfile.ZIP_STORED)
    with pytest.raises(RequestTooLarge) as err:
        store.put_zip(data, operation="UpdateFunctionCode")
    assert err.value.message == (
        "Request must be smaller than 69905067 bytes for the UpdateFunctionCode operation"
    )
    assert err.value.status == 413


def test_tampered_zip_on_disk_is_rejected_at_unpack(store: CodeStore) -> None:
    package = store.put_zip(make_zip([file("app.py")]))
    path = store.zip_path(package.sha256_hex)
    path.chmod(0o600)
    path.write_bytes(make_zip([file("../escape.py")]))
    with pytest.raises(InvalidZipFile, match=r"escape\.py"):
        store.unpacked(package.sha256_hex)
    assert not (store.root / "unpacked" / package.sha256_hex).exists()
    assert [p.name for p in (store.root / "unpacked").iterdir()] == []
