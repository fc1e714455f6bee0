"""One cold-start spec for a spawned runtime and for a zygote (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.errors import InvalidRuntime
from lamina.models.function import FunctionConfig
from lamina.runtimes.registry import RuntimeCommand
from lamina.scheduler.spec import Host, LaunchPlan, cold_start_spec, environment_limits

SDK = Path("/srv/lamina/sdk")
PY = RuntimeCommand(
    "python3.12",
    ("/opt/py/bin/python3.12", "/var/runtime/python/start.py"),
    "/opt/py/bin/python3.12",
    "3.12.1",
    Path("/opt/py"),
    "AWS_Lambda_python3.12",
)
RUST = RuntimeCommand("provided.al2023", ("/var/task/bootstrap",), "", "", None, None)


def host(sdk: Path | None = SDK) -> Host:
    return Host("eu-west-1", role_credentials, "http://10.0.0.1:9000", Path("/rt"), sdk, True)


def role_credentials(cfg: FunctionConfig) -> tuple[str, str, str]:
    return ("ASIA" + cfg.name.upper(), "secret", "token-of-" + cfg.name)


def plan(cmd: RuntimeCommand = PY) -> LaunchPlan:
    return LaunchPlan(Path("/data/code/abc"), "/var/task", "/var/runtime", cmd)


def cfg(
    runtime: str = "python3.12", environment: dict[str, str] | None = None, ephemeral_mb: int = 512
) -> FunctionConfig:
    return FunctionConfig(
        "my_fn", runtime, "app.handler", "sha", 1, memory_mb=256,
        environment=environment or {}, ephemeral_mb=ephemeral_mb,
    )  # fmt: skip


def test_a_spawned_environment_gets_its_runtime_api_and_an_on_demand_init() -> None:
    spec = cold_start_spec(
        cfg(), plan(), host(), env_id="my-fn-1-abc", log_stream="s1", runtime_api="127.0.0.1:7"
    )
    assert spec.env_id == "my-fn-1-abc"
    assert spec.argv == list(PY.argv)
    assert spec.env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:7"
    assert spec.env["AWS_LAMBDA_LOG_STREAM_NAME"] == "s1"
    assert spec.env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert spec.env["AWS_ENDPOINT_URL"] == "http://10.0.0.1:9000"
    assert spec.env["AWS_ACCESS_KEY_ID"] == "ASIAMY_FN" and spec.env["AWS_REGION"] == "eu-west-1"
    assert spec.env["AWS_SESSION_TOKEN"] == "token-of-my_fn"


def test_a_zygote_is_the_same_cold_start_with_its_own_command_and_no_per_environment_names() -> (
    None
):
    spawned = cold_start_spec(
        cfg(), plan(), host(), env_id="my-fn-1-abc", log_stream="s1", runtime_api="127.0.0.1:7"
    )
    zygote = cold_start_spec(
        cfg(), plan(), host(), env_id="my-fn-z1-abc", log_stream="s1", zygote=True
    )
    assert zygote.argv == ["/opt/py/bin/python3.12", "/var/runtime/python/zygote.py"]
    assert zygote.env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "snap-start"
    for key in (
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
    ):
        assert key not in zygote.env
    differs = {k for k in spawned.env if spawned.env[k] != zygote.env.get(k)}
    assert differs == {
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
    }
    assert (zygote.code_dir, zygote.runtime_dir, zygote.expose, zygote.limits) == (
        spawned.code_dir,
        spawned.runtime_dir,
        spawned.expose,
        spawned.limits,
    )


def test_python_functions_see_the_sdk_after_their_own_path() -> None:
    own = cold_start_spec(
        cfg(environment={"PYTHONPATH": "/var/task/lib"}), plan(), host(), env_id="a-1-b",
        log_stream="s",
    )  # fmt: skip
    assert own.env["PYTHONPATH"] == f"/var/task/lib:{SDK}"
    assert own.expose == (Path("/opt/py"), SDK)
    bare = cold_start_spec(cfg(), plan(), host(sdk=None), env_id="a-1-b", log_stream="s")
    assert "PYTHONPATH" not in bare.env and bare.expose == (Path("/opt/py"),)


def test_custom_runtimes_get_no_sdk_and_have_no_zygote() -> None:
    rust = cfg("provided.al2023")
    spec = cold_start_spec(rust, plan(RUST), host(), env_id="a-1-b", log_stream="s")
    assert spec.argv == ["/var/task/bootstrap"] and spec.expose == ()
    assert "PYTHONPATH" not in spec.env and "AWS_EXECUTION_ENV" not in spec.env
    with pytest.raises(InvalidRuntime):
        cold_start_spec(rust, plan(RUST), host(), env_id="a-1-b", log_stream="s", zygote=True)


def test_limits_follow_the_configuration_and_the_init_boost_setting() -> None:
    limits = environment_limits(cfg(ephemeral_mb=1024), host())
    assert (limits.memory_mb, limits.ephemeral_mb, limits.init_cpu_boost) == (256, 1024, True)


def test_layers_are_mounted_at_opt_or_named_where_they_are_without_mounts() -> None:
    merged = Path("/data/code/opt/abc")
    mounted = LaunchPlan(Path("/data/code/abc"), "/var/task", "/var/runtime", PY, merged, "/opt")
    spec = cold_start_spec(cfg(), mounted, host(None), env_id="my-fn-1-abc", log_stream="s")
    assert spec.opt_dir == merged
    assert spec.env["PATH"].endswith(":/opt/bin")
    assert "PYTHONPATH" not in spec.env  # the bootstrap adds /opt/python itself
    unmounted = LaunchPlan(Path("/data/code/abc"), "/data/code/abc", "/rt", PY, merged, str(merged))
    spec = cold_start_spec(cfg(), unmounted, host(), env_id="my-fn-1-abc", log_stream="s")
    assert spec.env["PATH"].endswith(f":{merged}/bin")
    assert spec.env["LD_LIBRARY_PATH"].endswith(f":{merged}/lib")
    # The layers before the SDK Lamina provides, as /opt/python comes before the runtime's.
    assert spec.env["PYTHONPATH"].split(":") == [
        f"{merged}/python/lib/python3.12/site-packages",
        f"{merged}/python",
        str(SDK),
    ]
