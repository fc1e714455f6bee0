"""Deploying a directory: zip_directory is deterministic and keeps exec bits and links."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from lamina.store.code import CodeStore, zip_directory


def make_tree(root: Path) -> Path:
    (root / "pkg" / "empty").mkdir(parents=True)
    (root / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "bootstrap").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "bootstrap").chmod(0o755)
    (root / "pkg" / "secret.txt").write_text("s")
    (root / "pkg" / "secret.txt").chmod(0o600)
    os.symlink("../app.py", root / "pkg" / "app_link.py")
    return root


def test_same_directory_gives_the_same_bytes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src")
    assert zip_directory(tree) == zip_directory(tree)


def test_copy_with_other_timestamps_gives_the_same_bytes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src")
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)
    for path in [copy, *copy.rglob("*")]:
        os.utime(path, (1_000_000_000, 1_000_000_000), follow_symlinks=False)
    assert zip_directory(copy) == zip_directory(tree)


def test_entries_are_sorted_with_normalised_modes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src")
    with zipfile.ZipFile(BytesIO(zip_directory(tree))) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    modes = {i.filename: i.external_attr >> 16 for i in infos}
    assert modes["bootstrap"] == stat.S_IFREG | 0o755
    assert modes["app.py"] == stat.S_IFREG | 0o644
    assert modes["pkg/secret.txt"] == stat.S_IFREG | 0o644
    assert modes["pkg/empty/"] == stat.S_IFDIR | 0o755
    assert modes["pkg/app_link.py"] == stat.S_IFLNK | 0o777
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_directory_round_trips_through_the_store(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src")
    store = CodeStore(tmp_path / "code")
    unpacked = store.unpacked(store.put_zip(zip_directory(tree)).sha256_hex)
    assert (unpacked / "app.py").read_text() == (tree / "app.py").read_text()
    assert stat.S_IMODE((unpacked / "bootstrap").stat().st_mode) == 0o555
    assert stat.S_IMODE((unpacked / "app.py").stat().st_mode) == 0o444
    assert os.readlink(unpacked / "pkg" / "app_link.py") == "../app.py"
    assert (unpacked / "pkg" / "empty").is_dir()


def test_zipping_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        zip_directory(tmp_path / "f")
