"""The runtime version INIT_START names: Lambda's shapes, and it follows what actually runs."""

from __future__ import annotations

import re
from pathlib import Path

from lamina.runtimes.registry import runtime_dir
from lamina.runtimes.version import bootstrap_digest, family_name, runtime_version

ARN = re.compile(r"^arn:aws:lambda:eu-south-1::runtime:[0-9a-f]{64}$")


def test_family_names_are_lambdas_spelling() -> None:
    assert family_name("python3.12") == "python:3.12"
    assert family_name("nodejs20.x") == "nodejs:20"
    assert family_name("provided.al2023") == "provided:al2023"
    assert family_name("provided.al2") == "provided:al2"


def test_the_version_has_lambdas_shape_and_is_the_same_for_the_same_runtime() -> None:
    v = runtime_version("python3.13", "/usr/bin/python3.13", "3.13.1", "ab" * 32, "eu-south-1")
    assert re.fullmatch(r"python:3\.13\.v\d+", v.name), v.name
    assert ARN.match(v.arn), v.arn
    # The name's number is the ARN digest's first 32 bits.
    assert v.name.rpartition(".v")[2] == str(int(v.arn[-64:][:8], 16))
    again = runtime_version("python3.13", "/usr/bin/python3.13", "3.13.1", "ab" * 32, "eu-south-1")
    assert again == v


def test_the_version_changes_with_the_interpreter_or_the_bootstrap() -> None:
    base = ("python3.12", "/usr/bin/python3.12", "3.12.1", "ab" * 32)
    v = runtime_version(*base, "us-east-1")
    others = [
        runtime_version("python3.12", "/opt/py/bin/python3.12", "3.12.1", "ab" * 32, "us-east-1"),
        runtime_version("python3.12", "/usr/bin/python3.12", "3.12.2", "ab" * 32, "us-east-1"),
        runtime_version("python3.12", "/usr/bin/python3.12", "3.12.1", "cd" * 32, "us-east-1"),
    ]
    assert len({v.arn, *(o.arn for o in others)}) == 4
    assert len({v.name, *(o.name for o in others)}) == 4
    # The region is in the ARN only: the same runtime build everywhere.
    elsewhere = runtime_version(*base, "eu-west-1")
    assert elsewhere.name == v.name and elsewhere.arn[-64:] == v.arn[-64:]
    assert elsewhere.arn != v.arn


def _runtime_tree(root: Path) -> Path:
    (root / "python").mkdir(parents=True)
    (root / "node").mkdir()
    (root / "python" / "bootstrap.py").write_text("print('boot')\n")
    (root / "node" / "bootstrap.mjs").write_text("console.log('boot')\n")
    (root / "launch_extensions.sh").write_text('exec "$@"\n')
    return root


def test_the_bootstrap_digest_follows_that_runtimes_files_only(tmp_path: Path) -> None:
    root = _runtime_tree(tmp_path / "rt")
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME="Test OS"\n')
    py = bootstrap_digest("python3.12", root, os_release)
    node = bootstrap_digest("nodejs20.x", root, os_release)
    provided = bootstrap_digest("provided.al2023", root, os_release)
    assert len({py, node, provided}) == 3
    (root / "node" / "bootstrap.mjs").write_text("console.log('changed')\n")
    assert bootstrap_digest("python3.12", root, os_release) == py
    assert bootstrap_digest("nodejs20.x", root, os_release) != node
    (root / "python" / "bootstrap.py").write_text("print('changed')\n")
    assert bootstrap_digest("python3.12", root, os_release) != py
    # An OS-only runtime is the host's OS: its release file is part of it.
    os_release.write_text('NAME="Other OS"\n')
    assert bootstrap_digest("provided.al2023", root, os_release) != provided


def test_lamina_own_bootstraps_are_read() -> None:
    # The real tree: the Python digest covers bootstrap.py (a missing file would still hash).
    real = runtime_dir()
    assert (real / "python" / "bootstrap.py").is_file()
    assert bootstrap_digest("python3.12", real) != bootstrap_digest("nodejs20.x", real)
