"""The environment variables of an execution environment, as Lambda sets them (pure)."""

from __future__ import annotations

from lamina.logs.lines import log_group
from lamina.models.function import FunctionConfig

# Lambda's own PATH and library path, so binaries that rely on them behave the same.
LAMBDA_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
LAMBDA_LD_LIBRARY_PATH = (
    "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
)


def environment_variables(
    cfg: FunctionConfig,
    *,
    region: str,
    runtime_api: str,
    log_stream: str,
    task_root: str,
    runtime_dir: str,
    execution_env: str | None,
    initialization_type: str = "on-demand",
    api_endpoint: str = "",
    credentials: tuple[str, str, str] = ("", "", ""),
) -> dict[str, str]:
    """Everything a runtime process sees in ``os.environ``.

    The function's own variables go first so Lamina's reserved ones (validated as not
    overridable at create time) always win.
    """
    env = dict(cfg.environment)
    env.update(
        {
            "_HANDLER": cfg.handler,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": cfg.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": cfg.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group(cfg.name),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": runtime_dir,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": LAMBDA_PATH,
            "LD_LIBRARY_PATH": LAMBDA_LD_LIBRARY_PATH,
            # The temporary credentials of the function's execution role (never the
            # operator's keys): Lamina's services authorise every call made with them
            # against the role's policies (lamina.services.iam).
            "AWS_ACCESS_KEY_ID": credentials[0] or "ASIALAMINA0000000000",
            "AWS_SECRET_ACCESS_KEY": credentials[1] or "lamina-no-credentials",
            "AWS_SESSION_TOKEN": credentials[2] or "lamina-no-credentials",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_LAMBDA_LOG_FORMAT": cfg.log_format,
        }
    )
    if execution_env:
        env["AWS_EXECUTION_ENV"] = execution_env
    if api_endpoint:
        # SDKs send every service to Lamina (an IP, so botocore picks path-style S3).
        env["AWS_ENDPOINT_URL"] = api_endpoint
    return env
