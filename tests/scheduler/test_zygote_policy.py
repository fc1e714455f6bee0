"""Which cold starts fork from a zygote, and the names and commands involved (pure)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from lamina.errors import InvalidRuntime
from lamina.models.function import FunctionConfig
from lamina.runtimes.registry import RuntimeRegistry, runtime_dir, zygote_argv
from lamina.sandbox.limits import Limits, SandboxSpec
from lamina.scheduler.spec import sandbox_id
from lamina.scheduler.zygotes import wants_zygote


def cfg(runtime: str = "python3.12", snap_start: bool = True) -> FunctionConfig:
    return FunctionConfig("f", runtime, "app.handler", "sha", 1, snap_start=snap_start)


def test_snapstart_mode_forks_python_functions_with_snapstart_on_only() -> None:
    assert wants_zygote(cfg(), "snapstart", True)
    assert not wants_zygote(cfg(snap_start=False), "snapstart", True)
    assert wants_zygote(cfg().with_changes(version="3"), "snapstart", True)


def test_python_mode_forks_every_python_function_and_off_none() -> None:
    assert wants_zygote(cfg(snap_start=False), "python", True)
    assert not wants_zygote(cfg(), "off", True)


def test_only_lamina_python_runtimes_in_a_tier_that_can_isolate_forks() -> None:
    assert not wants_zygote(cfg("nodejs20.x"), "python", True)
    assert not wants_zygote(cfg("provided.al2023"), "python", True)
    assert not wants_zygote(cfg(), "snapstart", False)


def test_zygote_command_is_the_runtimes_interpreter_with_zygote_py() -> None:
    cmd = RuntimeRegistry({}).resolve("provided.al2023", "/var/runtime")
    with pytest.raises(InvalidRuntime):
        zygote_argv(cmd, "/var/runtime")
    try:
        py = RuntimeRegistry({}).resolve("python3.11", "/var/runtime")
    except InvalidRuntime as exc:
        pytest.skip(str(exc))
    assert zygote_argv(py, "/var/runtime/") == (py.argv[0], "/var/runtime/python/zygote.py")
    assert (runtime_dir() / "python" / "zygote.py").is_file()


def test_sandbox_ids_are_valid_for_any_function_name() -> None:
    for name in ("my_func", "UPPER_and-dash", "_", "x" * 64):
        env_id = sandbox_id(name, "1f")
        # SandboxSpec validates the id: it must be usable as a cgroup name.
        SandboxSpec(env_id, ["true"], {}, runtime_dir(), None, Limits(128))
        assert "_" not in env_id and env_id == env_id.lower()


def test_snapshot_restore_py_registers_in_order_and_works_as_a_decorator() -> None:
    spec = importlib.util.spec_from_file_location(
        "snapshot_restore_py_under_test", runtime_dir() / "python" / "snapshot_restore_py.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    try:

        @module.register_before_snapshot  # type: ignore[untyped-decorator]
        def one() -> None: ...

        module.register_before_snapshot(print, "two", sep="")
        module.register_after_restore(print, "three")
        assert one.__name__ == "one"  # the decorator hands the function back
        assert [h[0] for h in module.get_before_snapshot()] == [one, print]
        assert module.get_before_snapshot()[1][1:] == (("two",), {"sep": ""})
        assert [h[1] for h in module.get_after_restore()] == [("three",)]
    finally:
        del sys.modules[spec.name]
