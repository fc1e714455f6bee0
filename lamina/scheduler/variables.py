"""The environment variables of an execution environment, as Lambda sets them (pure)."""

from __future__ import annotations

from lamina.logs.lines import function_log_group
from lamina.models.function import FunctionConfig

# Lambda's own PATH and library path, so binaries that rely on them behave the same.
LAMBDA_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
LAMBDA_LD_LIBRARY_PATH = (
    "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
)
# Lambda runs functions as sbx_user1051, whose /etc/passwd entry names this home; it sets
# no HOME, so os.homedir(), os.userInfo() and `~` resolve through that entry. Until the
# sandbox's own root has the passwd entry, HOME gives the SDKs (the AWS SDK for
# JavaScript v3 reads ~/.aws/config at INIT) the same answer. Like on Lambda the
# directory need not exist: the SDKs treat a missing config file as empty.
SANDBOX_HOME = "/home/sbx_user1051"


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
    opt_root: str = "/opt",
    xray_daemon: str = "",
) -> dict[str, str]:
    """Everything a runtime process sees in ``os.environ``.

    The function's own variables go first so Lamina's reserved ones (validated as not
    overridable at create time) always win. ``xray_daemon``: the X-Ray daemon's
    ``host:port`` for a function with active tracing ("" for PassThrough: no address).
    """
    # HOME is not reserved on Lambda: a function may set its own (HOME=/tmp is common).
    env = {"HOME": SANDBOX_HOME, **cfg.environment}
    env.update(
        {
            "_HANDLER": cfg.handler,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": cfg.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": cfg.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": function_log_group(cfg),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": runtime_dir,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": _at_opt(LAMBDA_PATH, opt_root),
            "LD_LIBRARY_PATH": _at_opt(LAMBDA_LD_LIBRARY_PATH, opt_root),
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
    if cfg.log_format == "JSON":
        # Lambda sets it only with the JSON format: the ApplicationLogLevel, upper case
        # (awslambdaric and the Node client filter their own records by it).
        env["AWS_LAMBDA_LOG_LEVEL"] = cfg.app_log_level
    if xray_daemon:
        # As Lambda sets them (the SDKs read the first; the Node and Java agents the others).
        host, _, port = xray_daemon.rpartition(":")
        env["AWS_XRAY_DAEMON_ADDRESS"] = xray_daemon
        env["_AWS_XRAY_DAEMON_ADDRESS"] = host
        env["_AWS_XRAY_DAEMON_PORT"] = port
    if execution_env:
        env["AWS_EXECUTION_ENV"] = execution_env
    if cfg.runtime.startswith("nodejs"):
        env["NODE_PATH"] = node_path(cfg.runtime, opt_root, runtime_dir, task_root)
    if api_endpoint:
        # SDKs send every service to Lamina (an IP, so botocore picks path-style S3).
        env["AWS_ENDPOINT_URL"] = api_endpoint
    return env


def node_path(runtime: str, opt_root: str, runtime_dir: str, task_root: str) -> str:
    """Lambda's NODE_PATH: the layers' ``nodejs/node<major>`` then ``nodejs`` modules first."""
    major = runtime.removeprefix("nodejs").split(".")[0]
    return ":".join(
        (
            f"{opt_root}/nodejs/node{major}/node_modules",
            f"{opt_root}/nodejs/node_modules",
            f"{runtime_dir}/node_modules",
            runtime_dir,
            task_root,
        )
    )


def python_layer_path(opt_root: str, python_version: str) -> str:
    """Where Python finds layers (``python/lib/pythonX.Y/site-packages``, then ``python``).

    The bootstrap adds these itself at ``/opt``; outside a mount namespace the layers are
    elsewhere, and this is put on ``PYTHONPATH`` instead.
    """
    major_minor = ".".join(python_version.split(".")[:2])
    return f"{opt_root}/python/lib/python{major_minor}/site-packages:{opt_root}/python"


def _at_opt(paths: str, opt_root: str) -> str:
    if opt_root == "/opt":
        return paths
    return ":".join(opt_root + p[4:] if p.startswith("/opt") else p for p in paths.split(":"))
