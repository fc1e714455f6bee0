"""Runtime name → command: discovery over real (fake) binaries on disk, and the host's own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina.errors import ConfigError, InvalidRuntime
from lamina.models.function import RUNTIMES
from lamina.runtimes.interpreters import Interpreter, Prober, is_pyenv_shim, parse_version
from lamina.runtimes.registry import (
    RuntimeRegistry,
    check_entrypoint,
    choose_node,
    runtime_dir,
)


def fake_binary(path: Path, version_line: str, count_file: Path | None = None) -> Path:
    """An executable that answers ``--version`` like a real interpreter (and counts runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = f'echo run >> "{count_file}"\n' if count_file else ""
    path.write_text(f'#!/bin/sh\n{count}echo "{version_line}"\n')
    path.chmod(0o755)
    return path


def pyenv_shim(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '#!/usr/bin/env bash\nset -e\nexport PYENV_ROOT="/nowhere"\nexec pyenv exec "$@"\n'
    )
    path.chmod(0o755)
    return path


def isolated(tmp_path: Path, overrides: dict[str, str] | None = None) -> RuntimeRegistry:
    """A registry that sees only what a test puts under tmp_path."""
    for d in ("bin", "sys", "home"):
        (tmp_path / d).mkdir(exist_ok=True)
    return RuntimeRegistry(
        overrides or {},
        search_path=str(tmp_path / "bin"),
        home=tmp_path / "home",
        pyenv_root=tmp_path / "pyenv",
        system_bin=tmp_path / "sys",
        compile_bytecode=False,  # fake interpreters: they count their runs
    )


def test_system_python_is_preferred(tmp_path: Path) -> None:
    fake_binary(tmp_path / "sys" / "python3.12", "Python 3.12.4")
    fake_binary(tmp_path / "pyenv" / "versions" / "3.12.9" / "bin" / "python3.12", "Python 3.12.9")
    cmd = isolated(tmp_path).resolve("python3.12", "/var/runtime")
    assert cmd.argv == (str(tmp_path / "sys" / "python3.12"), "/var/runtime/python/start.py")
    assert cmd.interpreter == str(tmp_path / "sys" / "python3.12")
    assert (cmd.interpreter_version, cmd.execution_env, cmd.note) == (
        "3.12.4",
        "AWS_Lambda_python3.12",
        "",
    )
    assert cmd.prefix == tmp_path


def test_pyenv_shim_on_path_resolves_to_the_real_binary(tmp_path: Path) -> None:
    shim = pyenv_shim(tmp_path / "bin" / "python3.13")
    assert is_pyenv_shim(shim)
    versions = tmp_path / "pyenv" / "versions"
    fake_binary(versions / "3.13.0" / "bin" / "python3.13", "Python 3.13.0")
    newest = fake_binary(versions / "3.13.2" / "bin" / "python3.13", "Python 3.13.2")
    fake_binary(versions / "3.12.1" / "bin" / "python3.12", "Python 3.12.1")
    cmd = isolated(tmp_path).resolve("python3.13", "/rt/")
    assert cmd.interpreter == str(newest)
    assert cmd.argv == (str(newest), "/rt/python/start.py")
    assert cmd.prefix == versions / "3.13.2"


def test_binary_of_the_wrong_minor_version_is_skipped(tmp_path: Path) -> None:
    fake_binary(tmp_path / "sys" / "python3.11", "Python 3.10.0")
    real = fake_binary(tmp_path / "bin" / "python3.11", "Python 3.11.9")
    assert isolated(tmp_path).resolve("python3.11", "/r").interpreter == str(real)


def test_missing_python_is_invalid_runtime_with_a_way_out(tmp_path: Path) -> None:
    with pytest.raises(InvalidRuntime) as err:
        isolated(tmp_path).resolve("python3.13", "/r")
    assert "python3.13 has no interpreter" in err.value.message
    assert 'LAMINA_INTERPRETERS="python3.13=' in err.value.message
    assert err.value.status == 502


def test_override_wins_and_mismatch_is_noted(tmp_path: Path) -> None:
    fake_binary(tmp_path / "sys" / "python3.12", "Python 3.12.4")
    mine = fake_binary(tmp_path / "opt" / "py", "Python 3.12.7")
    odd = fake_binary(tmp_path / "opt" / "node18", "v18.19.0")
    registry = isolated(tmp_path, {"python3.12": str(mine), "nodejs20.x": str(odd)})
    cmd = registry.resolve("python3.12", "/r")
    assert (cmd.interpreter, cmd.interpreter_version, cmd.note) == (str(mine), "3.12.7", "")
    node = registry.resolve("nodejs20.x", "/r")
    assert node.interpreter == str(odd)
    assert "v18.19.0" in node.note and "as configured" in node.note


def test_override_that_does_not_run_is_invalid_runtime(tmp_path: Path) -> None:
    registry = isolated(tmp_path, {"python3.12": str(tmp_path / "missing")})
    with pytest.raises(InvalidRuntime, match="mapped to"):
        registry.resolve("python3.12", "/r")


def test_override_of_an_unknown_runtime_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"provided\.al2023"):
        isolated(tmp_path, {"provided.al2023": "/bin/true"})


def test_node_of_the_wanted_major_is_chosen(tmp_path: Path) -> None:
    n20 = fake_binary(tmp_path / "bin" / "node", "v20.11.1")
    n22 = fake_binary(
        tmp_path / "home" / ".nvm" / "versions" / "node" / "v22.3.0" / "bin" / "node", "v22.3.0"
    )
    registry = isolated(tmp_path)
    assert registry.resolve("nodejs20.x", "/r").interpreter == str(n20)
    cmd = registry.resolve("nodejs22.x", "/var/runtime")
    assert cmd.argv == (str(n22), "/var/runtime/node/bootstrap.mjs")
    assert (cmd.interpreter_version, cmd.execution_env, cmd.note) == (
        "v22.3.0",
        "AWS_Lambda_nodejs22.x",
        "",
    )


def test_nodejs22_falls_back_to_newest_node_with_a_note(tmp_path: Path) -> None:
    fake_binary(tmp_path / "sys" / "node", "v20.20.2")
    cmd = isolated(tmp_path).resolve("nodejs22.x", "/r")
    assert cmd.interpreter == str(tmp_path / "sys" / "node")
    assert cmd.note == (
        f"nodejs22.x runs on Node v20.20.2 ({tmp_path / 'sys' / 'node'}): no Node 22 found"
    )


def test_too_old_node_is_invalid_runtime(tmp_path: Path) -> None:
    fake_binary(tmp_path / "sys" / "node", "v18.19.0")
    with pytest.raises(InvalidRuntime, match=r"found: v18\.19\.0"):
        isolated(tmp_path).resolve("nodejs20.x", "/r")


def test_choose_node_prefers_exact_major_then_newest() -> None:
    def interp(version: str) -> Interpreter:
        parsed = parse_version(version, node=True)
        assert parsed is not None
        return Interpreter(Path(f"/n/{version}/bin/node"), *parsed)

    found = [interp("v24.1.0"), interp("v20.1.0"), interp("v22.5.0"), interp("v22.9.0")]
    assert choose_node("nodejs22.x", 22, found) == (found[2], "")
    fallback, note = choose_node("nodejs22.x", 22, [interp("v20.1.0"), interp("v21.0.0")])
    assert fallback.version == "v21.0.0" and "no Node 22 found" in note


def test_interpreters_are_probed_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    fake_binary(tmp_path / "sys" / "python3.12", "Python 3.12.4", runs)
    registry = isolated(tmp_path)
    first = registry.resolve("python3.12", "/a")
    second = registry.resolve("python3.12", "/b")
    assert first.interpreter == second.interpreter
    assert second.argv[1] == "/b/python/start.py"
    prober = Prober()
    assert prober.probe(tmp_path / "sys" / "python3.12", node=False) is not None
    assert prober.probe(tmp_path / "sys" / "python3.12", node=False) is not None
    assert runs.read_text().count("run") == 2  # once by the registry, once by the new prober


def test_provided_runtimes_exec_the_functions_bootstrap(tmp_path: Path) -> None:
    registry = isolated(tmp_path)
    cmd = registry.resolve("provided.al2023", "/var/runtime")
    assert cmd.argv == ("/var/task/bootstrap",)
    assert (cmd.interpreter, cmd.interpreter_version, cmd.prefix, cmd.execution_env) == (
        "",
        "",
        None,
        None,
    )
    unsandboxed = registry.resolve("provided.al2", "/host/rt", task_root="/data/code/abc/")
    assert unsandboxed.argv == ("/data/code/abc/bootstrap",)


def test_unknown_runtime_is_invalid_runtime(tmp_path: Path) -> None:
    with pytest.raises(InvalidRuntime, match="java21"):
        isolated(tmp_path).resolve("java21", "/r")


def test_describe_lists_every_runtime_and_why_one_cannot_run(tmp_path: Path) -> None:
    fake_binary(tmp_path / "sys" / "python3.11", "Python 3.11.2")
    fake_binary(tmp_path / "sys" / "node", "v20.1.0")
    described = {c.runtime: c for c in isolated(tmp_path).describe()}
    assert list(described) == list(RUNTIMES)
    assert described["python3.11"].available
    assert not described["python3.13"].available
    assert "no interpreter" in described["python3.13"].note
    assert described["nodejs22.x"].available and "no Node 22" in described["nodejs22.x"].note
    assert described["provided.al2023"].available


def test_check_entrypoint(tmp_path: Path) -> None:
    assert check_entrypoint("python3.12", tmp_path) is None
    assert check_entrypoint("provided.al2023", tmp_path) == (
        "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"
    )
    bootstrap = tmp_path / "bootstrap"
    bootstrap.write_text("#!/bin/sh\n")
    bootstrap.chmod(0o644)
    if os.access(bootstrap, os.X_OK):  # root may execute anything with any x bit; not here
        pytest.skip("file permissions are not enforced for this user")
    assert check_entrypoint("provided.al2", tmp_path) == (
        "fork/exec /var/task/bootstrap: permission denied"
    )
    bootstrap.chmod(0o755)
    assert check_entrypoint("provided.al2", tmp_path) is None


def test_runtime_dir_holds_the_bootstraps() -> None:
    assert (runtime_dir() / "python" / "bootstrap.py").is_file()
    assert (runtime_dir() / "node" / "bootstrap.mjs").is_file()


def test_host_runtimes_resolve_to_real_interpreters() -> None:
    """On this host: Debian's python3.11, pyenv's 3.12/3.13 (never a shim), Node 20."""
    registry = RuntimeRegistry({})
    for runtime in ("python3.11", "python3.12", "python3.13", "nodejs20.x"):
        try:
            cmd = registry.resolve(runtime, "/var/runtime")
        except InvalidRuntime as exc:
            pytest.skip(str(exc))
        assert Path(cmd.interpreter).is_file()
        assert not is_pyenv_shim(Path(cmd.interpreter))
        assert cmd.prefix is not None and Path(cmd.interpreter).is_relative_to(cmd.prefix)
    node22 = registry.resolve("nodejs22.x", "/var/runtime")
    if not node22.interpreter_version.startswith("v22."):
        assert "no Node 22 found" in node22.note


def test_node_gets_awss_memory_flags_when_the_memory_is_given(tmp_path: Path) -> None:
    n20 = fake_binary(tmp_path / "bin" / "node", "v20.11.1")
    cmd = isolated(tmp_path).resolve("nodejs20.x", "/var/runtime", memory_mb=1769)
    assert cmd.argv == (
        str(n20),
        "--expose-gc",
        "--max-http-header-size=81920",
        "--max-semi-space-size=88",
        "--max-old-space-size=1593",
        "/var/runtime/node/bootstrap.mjs",
    )
    py = isolated(tmp_path).resolve("provided.al2023", "/var/runtime", memory_mb=1769)
    assert py.argv == ("/var/task/bootstrap",)
