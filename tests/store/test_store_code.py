"""Storing and unpacking code packages: layout, permissions, links, idempotence, races, gc."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from lamina.errors import ResourceNotFound
from lamina.store.code import CodePackage, CodeStore

Member = tuple[str, bytes, int]


def make_zip(members: list[Member], *, create_system: int = 3) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content, external_attr in members:
            info = zipfile.ZipInfo(name)
            info.create_system = create_system
            info.external_attr = external_attr
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buffer.getvalue()


def unix(mode: int) -> int:
    return mode << 16


PACKAGE = make_zip(
    [
        ("app.py", b"def handler(event, context):\n    return event\n", unix(0o100644)),
        ("bootstrap", b"#!/bin/sh\nexec python3 app.py\n", unix(0o100755)),
        ("lib/", b"", unix(0o040755)),
        ("lib/helper.py", b"X = 1\n", unix(0o100600)),
        ("lib/tool", b"#!/bin/sh\n", unix(0o104775)),  # setuid bit must not survive
        ("lib/deep/data.txt", b"data", unix(0o100644)),
        ("lib/app_link.py", b"../app.py", unix(0o120777)),
        ("top_link", b"lib/deep", unix(0o120777)),
    ]
)


@pytest.fixture
def store(tmp_path: Path) -> CodeStore:
    return CodeStore(tmp_path / "code")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_put_stores_zip_under_its_sha256(store: CodeStore) -> None:
    package = store.put_zip(PACKAGE)
    digest = hashlib.sha256(PACKAGE).digest()
    assert package == CodePackage(digest.hex(), len(PACKAGE))
    assert package.code_sha256 == base64.b64encode(digest).decode()
    assert store.zip_path(package.sha256_hex) == store.root / "zips" / f"{digest.hex()}.zip"
    assert store.zip_path(package.sha256_hex).read_bytes() == PACKAGE


def test_put_is_idempotent_for_identical_bytes(store: CodeStore) -> None:
    first = store.put_zip(PACKAGE)
    second = store.put_zip(PACKAGE)
    assert first == second
    assert [p.name for p in (store.root / "zips").iterdir()] == [f"{first.sha256_hex}.zip"]


def test_unpacked_tree_has_content_and_read_only_modes(store: CodeStore) -> None:
    tree = store.unpacked(store.put_zip(PACKAGE).sha256_hex)
    assert (tree / "app.py").read_bytes().startswith(b"def handler")
    assert (tree / "lib" / "deep" / "data.txt").read_bytes() == b"data"
    assert mode_of(tree / "app.py") == 0o444
    assert mode_of(tree / "lib" / "helper.py") == 0o444
    assert mode_of(tree / "bootstrap") == 0o555
    assert mode_of(tree / "lib" / "tool") == 0o555
    for directory in (tree, tree / "lib", tree / "lib" / "deep"):
        assert mode_of(directory) == 0o555
    for path in [tree, *tree.rglob("*")]:
        assert path.lstat().st_uid == os.geteuid()


def test_inner_symlinks_are_kept_as_links(store: CodeStore) -> None:
    tree = store.unpacked(store.put_zip(PACKAGE).sha256_hex)
    assert (tree / "lib" / "app_link.py").is_symlink()
    assert os.readlink(tree / "lib" / "app_link.py") == "../app.py"
    assert (tree / "lib" / "app_link.py").read_bytes() == (tree / "app.py").read_bytes()
    assert (tree / "top_link" / "data.txt").read_bytes() == b"data"


def test_windows_zip_without_unix_modes_makes_bootstrap_executable(store: CodeStore) -> None:
    archive_flag = 0x20  # MS-DOS "archive" attribute, all a Windows tool records
    data = make_zip(
        [("bootstrap", b"\x7fELF", archive_flag), ("run.sh", b"#!/bin/sh\n", archive_flag)],
        create_system=0,
    )
    tree = store.unpacked(store.put_zip(data).sha256_hex)
    assert mode_of(tree / "bootstrap") == 0o555
    assert mode_of(tree / "run.sh") == 0o444


def test_unix_zip_bootstrap_keeps_the_bits_it_was_given(store: CodeStore) -> None:
    data = make_zip([("bootstrap", b"#!/bin/sh\n", unix(0o100644))])
    tree = store.unpacked(store.put_zip(data).sha256_hex)
    assert mode_of(tree / "bootstrap") == 0o444


def test_tree_is_readable_by_an_unprivileged_user(store: CodeStore) -> None:
    tree = store.unpacked(store.put_zip(PACKAGE).sha256_hex)
    # Every directory down from the store root must be traversable by "other".
    for directory in (store.root, store.root / "unpacked", tree, tree / "lib"):
        assert mode_of(directory) & 0o005 == 0o005
    assert mode_of(tree / "app.py") & 0o004


def test_unpacked_twice_returns_the_same_tree(store: CodeStore) -> None:
    sha = store.put_zip(PACKAGE).sha256_hex
    first = store.unpacked(sha)
    inode = first.stat().st_ino
    assert store.unpacked(sha) == first
    assert first.stat().st_ino == inode


def test_concurrent_unpacks_end_with_one_complete_tree(tmp_path: Path) -> None:
    # Two store objects on one root stand in for two processes: their threads do not
    # share a lock, so the loser of the final rename must throw its copy away.
    stores = [CodeStore(tmp_path / "code"), CodeStore(tmp_path / "code")]
    sha = stores[0].put_zip(PACKAGE).sha256_hex
    barrier = threading.Barrier(8)
    results: list[Path] = []
    errors: list[BaseException] = []

    def unpack(store: CodeStore) -> None:
        barrier.wait()
        try:
            results.append(store.unpacked(sha))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=unpack, args=(stores[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    tree = results[0]
    assert sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*")) == [
        "app.py",
        "bootstrap",
        "lib",
        "lib/app_link.py",
        "lib/deep",
        "lib/deep/data.txt",
        "lib/helper.py",
        "lib/tool",
        "top_link",
    ]
    assert [p.name for p in (tmp_path / "code" / "unpacked").iterdir()] == [sha]


def test_unknown_package_is_not_found(store: CodeStore) -> None:
    with pytest.raises(ResourceNotFound):
        store.unpacked("0" * 64)


def test_malformed_digest_never_becomes_a_path(store: CodeStore) -> None:
    with pytest.raises(ValueError):
        store.unpacked("../../etc")
    with pytest.raises(ValueError):
        store.zip_path("A" * 64)


def test_gc_deletes_only_unkept_packages_and_their_trees(store: CodeStore) -> None:
    kept = store.put_zip(make_zip([("a.py", b"a", unix(0o100644))])).sha256_hex
    unused = store.put_zip(make_zip([("c.py", b"c", unix(0o100644))])).sha256_hex
    for sha in (kept, unused):
        store.unpacked(sha)
    assert store.gc({kept}, grace_s=0) == [unused]
    assert not store.has(unused)
    assert not (store.root / "unpacked" / unused).exists()
    assert store.has(kept) and store.unpacked(kept).is_dir()
    assert store.gc({kept}, grace_s=0) == []


def test_gc_spares_packages_stored_within_the_grace_period(store: CodeStore) -> None:
    fresh = store.put_zip(PACKAGE).sha256_hex
    assert store.gc(set(), grace_s=3600) == []
    assert store.has(fresh)


def test_gc_clears_leftovers_of_a_crash(store: CodeStore) -> None:
    leftover = store.root / "unpacked" / ".tmp-deadbeef"
    (leftover / "sub").mkdir(parents=True)
    (leftover / "sub").chmod(0o555)
    (store.root / "zips" / ".tmp-cafe").write_bytes(b"partial")
    store.gc(set(), grace_s=0)
    assert list((store.root / "unpacked").iterdir()) == []
    assert list((store.root / "zips").iterdir()) == []
