"""Function configuration: the pure value every layer passes around, and its validation.

Validation lives here, at the edge of the core, and raises Lambda's own messages so the
API, the CLI and the store all reject the same things the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from lamina.arns import role_arn
from lamina.errors import InvalidParameterValue
from lamina.models.layer import FunctionLayer

Architecture = Literal["x86_64", "arm64"]
LogFormat = Literal["Text", "JSON"]
# LoggingConfig's levels (botocore's ApplicationLogLevel / SystemLogLevel enums); "" is
# unset, as a Text-format function always is.
ApplicationLogLevel = Literal["", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
SystemLogLevel = Literal["", "DEBUG", "INFO", "WARN"]
APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")

PYTHON_RUNTIMES = ("python3.11", "python3.12", "python3.13")
NODE_RUNTIMES = ("nodejs20.x", "nodejs22.x")
PROVIDED_RUNTIMES = ("provided.al2023", "provided.al2")
RUNTIMES = PYTHON_RUNTIMES + NODE_RUNTIMES + PROVIDED_RUNTIMES

MEMORY_MIN_MB, MEMORY_MAX_MB = 128, 10_240
TIMEOUT_MIN_S, TIMEOUT_MAX_S = 1, 900
EPHEMERAL_MIN_MB, EPHEMERAL_MAX_MB = 512, 10_240
ENV_MAX_BYTES = 4 * 1024
DESCRIPTION_MAX = 256
LATEST = "$LATEST"

_NAME = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
_HANDLER = re.compile(r"^[^\s]{1,128}$")
_ENV_KEY = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")
# Lambda sets these itself; a function may not override them.
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """One function version's configuration (``$LATEST`` or a published number)."""

    name: str
    runtime: str
    handler: str
    code_sha256: str  # hex digest of the zip; the API shows it base64-encoded
    code_size: int
    memory_mb: int = 128
    timeout_s: int = 3
    environment: dict[str, str] = field(default_factory=dict)
    ephemeral_mb: int = 512
    architecture: Architecture = "x86_64"
    description: str = ""
    role: str = role_arn("000000000000", "lambda-role")
    version: str = LATEST
    revision_id: str = ""
    last_modified: str = ""
    log_format: LogFormat = "Text"
    # LoggingConfig.ApplicationLogLevel / SystemLogLevel: set only with the JSON format
    # (Lambda refuses them with Text); "" in JSON reads as Lambda's default, INFO.
    application_log_level: ApplicationLogLevel = ""
    system_log_level: SystemLogLevel = ""
    # LoggingConfig.LogGroup: where the function logs; "" is Lambda's /aws/lambda/<name>.
    log_group: str = ""
    # Lambda SnapStart ("ApplyOn": "PublishedVersions"): start environments from a
    # pre-initialised snapshot instead of running INIT each cold start.
    snap_start: bool = False
    # DeadLetterConfig.TargetArn: where an asynchronous event goes once its retries are spent.
    dead_letter_arn: str = ""
    # Layers, in the order they are merged under /opt (each with its archive's digest).
    layers: tuple[FunctionLayer, ...] = ()
    # TracingConfig.Mode Active (False: PassThrough): environments get the X-Ray daemon's
    # address and sampled trace headers (lamina.xray).
    tracing_active: bool = False

    @property
    def cache_key(self) -> str:
        """Environments are shared only between invokes of an identical code + config."""
        return f"{self.name}:{self.version}:{self.revision_id}"

    @property
    def app_log_level(self) -> str:
        """The ApplicationLogLevel in force: "" with the Text format, else INFO by default."""
        if self.log_format != "JSON":
            return ""
        return self.application_log_level or "INFO"

    @property
    def sys_log_level(self) -> str:
        """The SystemLogLevel in force: "" with the Text format, else INFO by default."""
        if self.log_format != "JSON":
            return ""
        return self.system_log_level or "INFO"

    def with_changes(self, **changes: object) -> FunctionConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


def validate_name(name: str) -> str:
    """Accept a plain function name; ARNs are resolved by the API before this."""
    if not _NAME.match(name):
        raise InvalidParameterValue.constraint(
            "functionName",
            "Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
            "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            name,
        )
    return name


def validate_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise InvalidParameterValue(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{', '.join(RUNTIMES)}] or be a valid ARN"
        )
    return runtime


def validate_handler(handler: str, runtime: str) -> str:
    if not _HANDLER.match(handler):
        raise InvalidParameterValue.constraint(
            "handler", "Member must satisfy regular expression pattern: [^\\s]+", handler
        )
    if runtime in PYTHON_RUNTIMES + NODE_RUNTIMES:
        module, dot, func = handler.rpartition(".")
        if not dot or not module or not func:
            raise InvalidParameterValue(
                f"Handler '{handler}' is not valid for runtime {runtime}: "
                "expected 'module.function' (for example 'app.handler')"
            )
    return handler


def validate_memory(memory_mb: int) -> int:
    if not isinstance(memory_mb, int) or not MEMORY_MIN_MB <= memory_mb <= MEMORY_MAX_MB:
        too_much = isinstance(memory_mb, int) and memory_mb > MEMORY_MAX_MB
        raise InvalidParameterValue.constraint(
            "memorySize",
            f"Member must have value less than or equal to {MEMORY_MAX_MB}"
            if too_much
            else f"Member must have value greater than or equal to {MEMORY_MIN_MB}",
            memory_mb,
        )
    return memory_mb


def validate_timeout(timeout_s: int) -> int:
    if not isinstance(timeout_s, int) or not TIMEOUT_MIN_S <= timeout_s <= TIMEOUT_MAX_S:
        raise InvalidParameterValue.constraint(
            "timeout",
            f"Member must have value between {TIMEOUT_MIN_S} and {TIMEOUT_MAX_S}",
            timeout_s,
        )
    return timeout_s


def validate_ephemeral(size_mb: int) -> int:
    if not isinstance(size_mb, int) or not EPHEMERAL_MIN_MB <= size_mb <= EPHEMERAL_MAX_MB:
        raise InvalidParameterValue.constraint(
            "ephemeralStorage.size",
            f"Member must have value between {EPHEMERAL_MIN_MB} and {EPHEMERAL_MAX_MB}",
            size_mb,
        )
    return size_mb


def validate_architecture(arch: str) -> Architecture:
    if arch == "x86_64":
        return "x86_64"
    if arch == "arm64":
        return "arm64"
    raise InvalidParameterValue.constraint(
        "architectures", "Member must satisfy enum value set: [x86_64, arm64]", f"[{arch}]"
    )


def validate_environment(env: dict[str, str]) -> dict[str, str]:
    for key, value in env.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidParameterValue("Environment variable keys and values must be strings")
        if not _ENV_KEY.match(key):
            raise InvalidParameterValue(
                f"Environment variable key '{key}' is invalid: it must be at least two "
                "characters long, start with a letter and contain only letters, digits and "
                "underscores"
            )
        if key in RESERVED_ENV_KEYS:
            raise InvalidParameterValue(
                f"Lambda was unable to configure your environment variables because the "
                f"environment variables you have provided contains reserved keys that are "
                f"currently not supported for modification. Reserved keys used in this "
                f"request: {key}"
            )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in env.items())
    if size > ENV_MAX_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided exceeded the 4KB limit. String measured: {size} bytes"
        )
    return env


def validate_description(description: str) -> str:
    if len(description) > DESCRIPTION_MAX:
        raise InvalidParameterValue.constraint(
            "description", f"Member must have length less than or equal to {DESCRIPTION_MAX}"
        )
    return description


def validate_config(cfg: FunctionConfig) -> FunctionConfig:
    """Check every field of a configuration; return it unchanged when valid."""
    validate_name(cfg.name)
    validate_runtime(cfg.runtime)
    validate_handler(cfg.handler, cfg.runtime)
    validate_memory(cfg.memory_mb)
    validate_timeout(cfg.timeout_s)
    validate_ephemeral(cfg.ephemeral_mb)
    validate_architecture(cfg.architecture)
    validate_environment(cfg.environment)
    validate_description(cfg.description)
    return cfg
