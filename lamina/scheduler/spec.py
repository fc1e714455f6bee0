"""The one sandbox spec of a cold start, for a spawned runtime and for a zygote alike (pure).

A spawned environment and a zygote start the same runtime with the same code, limits and
variables; a zygote differs in three ways only: its command is the runtime's
``zygote.py``, its ``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start``, and the
per-environment variables (Runtime API address, log group and stream) are absent, as
they are in Lambda's SnapStart functions: each forked environment gets its own.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.models.function import FunctionConfig
from lamina.runtimes.registry import RuntimeCommand, zygote_argv
from lamina.sandbox import Limits, SandboxSpec
from lamina.scheduler.variables import environment_variables, python_layer_path

_NOT_IN_ID = re.compile(r"[^a-z0-9-]+")
_PER_ENVIRONMENT = (
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
)


def sandbox_id(function: str, suffix: str) -> str:
    """A sandbox id (cgroup name) for an environment of ``function``: lower-case letters,
    digits and dashes only (function names may hold ``_``), unique by a random tail."""
    head = _NOT_IN_ID.sub("-", function[:40].lower()).strip("-") or "fn"
    return f"{head}-{suffix}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class LaunchPlan:
    """Where one function's runtime starts from: its unpacked code and its command."""

    code_dir: Path
    task_root: str  # the code as the runtime sees it (LAMBDA_TASK_ROOT)
    runtime_root: str  # Lamina's bootstraps as the runtime sees them (LAMBDA_RUNTIME_DIR)
    cmd: RuntimeCommand
    opt_dir: Path | None = None  # the function's layers, merged (None: no layers)
    opt_root: str = "/opt"  # where the runtime sees them
    # External extensions to start before the runtime, as paths inside the environment.
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Host:
    """What the server gives every environment it starts."""

    region: str
    # The role credentials an environment of a function gets: (key id, secret, token).
    credentials: Callable[[FunctionConfig], tuple[str, str, str]]
    api_endpoint: str  # AWS_ENDPOINT_URL ("" until the API's port is bound)
    runtime_dir: Path  # host path of Lamina's bootstraps
    python_sdk: Path | None  # boto3 for Python functions, when provided
    init_cpu_boost: bool
    # The X-Ray daemon's host:port as environments reach it ("": no daemon), given to
    # functions with active tracing only.
    xray_daemon: str = ""


def environment_limits(cfg: FunctionConfig, host: Host) -> Limits:
    return Limits(
        memory_mb=cfg.memory_mb, ephemeral_mb=cfg.ephemeral_mb, init_cpu_boost=host.init_cpu_boost
    )


def _is_python(cmd: RuntimeCommand) -> bool:
    return bool(cmd.execution_env and cmd.execution_env.startswith("AWS_Lambda_python"))


def cold_start_spec(
    cfg: FunctionConfig,
    plan: LaunchPlan,
    host: Host,
    *,
    env_id: str,
    log_stream: str,
    runtime_api: str = "",
    zygote: bool = False,
    initialization_type: str = "on-demand",
) -> SandboxSpec:
    """The spec that starts ``cfg``'s runtime (``zygote``: its zygote) in the sandbox
    (``initialization_type``: on-demand, or provisioned-concurrency).

    Raises :class:`lamina.errors.InvalidRuntime` for a zygote of a runtime that has none.
    """
    cmd = plan.cmd
    variables = environment_variables(
        cfg,
        region=host.region,
        runtime_api=runtime_api,
        log_stream=log_stream,
        task_root=plan.task_root,
        runtime_dir=plan.runtime_root,
        execution_env=cmd.execution_env,
        initialization_type="snap-start" if zygote else initialization_type,
        api_endpoint=host.api_endpoint,
        credentials=host.credentials(cfg),
        opt_root=plan.opt_root,
        xray_daemon=host.xray_daemon if cfg.tracing_active else "",
    )
    argv: list[str] = list(cmd.argv)
    if plan.extensions:
        variables["LAMINA_EXTENSIONS"] = " ".join(plan.extensions)
    if zygote:
        argv = list(zygote_argv(cmd, plan.runtime_root))
        for key in _PER_ENVIRONMENT:
            variables.pop(key, None)
    expose = [cmd.prefix] if cmd.prefix is not None else []
    if plan.opt_root != "/opt" and _is_python(cmd):
        # The bootstrap finds /opt/python itself; layers seen elsewhere need PYTHONPATH.
        own = variables.get("PYTHONPATH")
        layer_path = python_layer_path(plan.opt_root, cmd.interpreter_version)
        variables["PYTHONPATH"] = f"{own}:{layer_path}" if own else layer_path
    if host.python_sdk is not None and _is_python(cmd):
        expose.append(host.python_sdk)
        # After the task root (the bootstrap puts it first) and the function's own entries.
        own = variables.get("PYTHONPATH")
        variables["PYTHONPATH"] = f"{own}:{host.python_sdk}" if own else str(host.python_sdk)
    return SandboxSpec(
        env_id=env_id,
        argv=argv,
        env=variables,
        code_dir=plan.code_dir,
        runtime_dir=host.runtime_dir,
        expose=tuple(expose),
        limits=environment_limits(cfg, host),
        opt_dir=plan.opt_dir,
    )
