"""Request bodies of the control plane, parsed at the edge into typed values.

Each parser checks types and ranges with Lambda's messages and returns values the core
(:mod:`lamina.functions`) can trust. Fields Lamina cannot honour (VPCs, container
images, code signing, ...) are refused by name rather than silently dropped.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from lamina.arns import dead_letter_service
from lamina.errors import InvalidParameterValue
from lamina.models.function import (
    APPLICATION_LOG_LEVELS,
    SYSTEM_LOG_LEVELS,
    FunctionConfig,
    validate_architecture,
)
from lamina.models.requests import CodeRef, CodeUpdate, CreateRequest

_ROLE = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
MAX_TAGS = 50

# Accepted when empty (Terraform and SAM send some of them empty); refused otherwise.
_UNSUPPORTED = {
    "VpcConfig": "VPC configuration",
    "FileSystemConfigs": "file systems (EFS)",
    "ImageConfig": "container image configuration",
    "CodeSigningConfigArn": "code signing",
    "KMSKeyArn": "customer-managed KMS keys",
    "CapacityProviderConfig": "capacity providers",
    "DurableConfig": "durable functions",
    "TenancyConfig": "tenant isolation",
    "AcceleratorConfig": "accelerators",
    "RuntimeConfig": "runtime version pinning",
}


# -- scalar fields ---------------------------------------------------------------------
def integer(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{key} must be an integer, not {value!r}")
    return value


def string(body: Mapping[str, Any], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise InvalidParameterValue(f"{key} must be a string, not {type(value).__name__}")
    return value


def optional_string(body: Mapping[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else string(body, key)


def boolean(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise InvalidParameterValue(f"{key} must be true or false, not {value!r}")
    return value


def role(body: Mapping[str, Any], default: str) -> str:
    value = string(body, "Role", default)
    if not _ROLE.match(value):
        raise InvalidParameterValue.constraint(
            "role",
            "Member must satisfy regular expression pattern: "
            "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
            value,
        )
    return value


def environment(body: Mapping[str, Any], default: dict[str, str]) -> dict[str, str]:
    env = body.get("Environment")
    if env is None:
        return default
    if not isinstance(env, dict):
        raise InvalidParameterValue("Environment must be an object with Variables")
    variables = env.get("Variables") or {}
    if not isinstance(variables, dict):
        raise InvalidParameterValue("Environment.Variables must be a map of strings")
    return {str(k): v for k, v in variables.items()}


def architecture(body: Mapping[str, Any], default: str) -> str:
    archs = body.get("Architectures")
    if archs is None:
        return default
    if not isinstance(archs, list) or len(archs) != 1 or not isinstance(archs[0], str):
        raise InvalidParameterValue.constraint(
            "architectures", "Member must have length less than or equal to 1"
        )
    return validate_architecture(archs[0])


def ephemeral(body: Mapping[str, Any], default: int) -> int:
    eph = body.get("EphemeralStorage")
    if eph is None:
        return default
    if not isinstance(eph, dict):
        raise InvalidParameterValue("EphemeralStorage must be an object with Size")
    return integer(eph, "Size", default)


def log_format(body: Mapping[str, Any], default: str) -> str:
    lc = body.get("LoggingConfig")
    if lc is None:
        return default
    if not isinstance(lc, dict):
        raise InvalidParameterValue("LoggingConfig must be an object")
    fmt = lc.get("LogFormat", default)
    if fmt not in ("Text", "JSON"):
        raise InvalidParameterValue.constraint(
            "loggingConfig.logFormat", "Member must satisfy enum value set: [Text, JSON]", fmt
        )
    return str(fmt)


# Lambda's answer to a level with the Text format (as AWS words it; cfn-lint's E3696 and
# LocalStack quote the same sentence).
TEXT_WITH_LEVEL = (
    'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your '
    'request or change the LogFormat to "JSON" and try again.'
)


def log_levels(body: Mapping[str, Any], fmt: str, default: tuple[str, str]) -> tuple[str, str]:
    """LoggingConfig's (ApplicationLogLevel, SystemLogLevel) under the format ``fmt`` the
    request ends with. No LoggingConfig keeps ``default``; one that is given sets both
    levels, INFO where it names none (Lambda's default), and "" for the Text format, which
    refuses any level (:data:`TEXT_WITH_LEVEL`)."""
    lc = body.get("LoggingConfig")
    if lc is None:
        return default if fmt == "JSON" else ("", "")
    assert isinstance(lc, dict)  # log_format() refused anything else first
    app = _level(lc, "ApplicationLogLevel", "applicationLogLevel", APPLICATION_LOG_LEVELS)
    system = _level(lc, "SystemLogLevel", "systemLogLevel", SYSTEM_LOG_LEVELS)
    if fmt != "JSON":
        if app or system:
            raise InvalidParameterValue(TEXT_WITH_LEVEL)
        return "", ""
    return app or "INFO", system or "INFO"


def _level(lc: Mapping[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> str:
    value = lc.get(key)
    if value is None or value == "":  # Terraform sends no level as ""
        return ""
    if value not in allowed:
        raise InvalidParameterValue.constraint(
            f"loggingConfig.{where}",
            f"Member must satisfy enum value set: [{', '.join(allowed)}]",
            value,
        )
    return str(value)


_LOG_GROUP = re.compile(r"^[\.\-_/#A-Za-z0-9]{1,512}$")


def custom_log_group(body: Mapping[str, Any], default: str) -> str:
    """LoggingConfig.LogGroup: a CloudWatch Logs group name ("" keeps Lambda's default)."""
    lc = body.get("LoggingConfig")
    if not isinstance(lc, dict) or "LogGroup" not in lc:
        return default
    group = lc.get("LogGroup") or ""
    if not isinstance(group, str) or (group and not _LOG_GROUP.match(group)):
        raise InvalidParameterValue.constraint(
            "loggingConfig.logGroup",
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
            group,
        )
    return group


def snap_start(body: Mapping[str, Any], default: bool) -> bool:
    snap = body.get("SnapStart")
    if snap is None:
        return default
    apply_on = snap.get("ApplyOn") if isinstance(snap, dict) else None
    if apply_on not in ("PublishedVersions", "None"):
        raise InvalidParameterValue.constraint(
            "snapStart.applyOn",
            "Member must satisfy enum value set: [PublishedVersions, None]",
            apply_on,
        )
    return bool(apply_on == "PublishedVersions")


def dead_letter_arn(body: Mapping[str, Any], default: str) -> str:
    """DeadLetterConfig.TargetArn: an SQS queue (Lamina's own, or an external one) or an
    SNS topic (Lamina's own)."""
    dlc = body.get("DeadLetterConfig")
    if dlc is None:
        return default
    if not isinstance(dlc, dict):
        raise InvalidParameterValue("DeadLetterConfig must be an object with TargetArn")
    target = dlc.get("TargetArn", "")
    if target in ("", None):
        return ""  # an empty TargetArn removes the dead-letter queue, as on Lambda
    service = dead_letter_service(target) if isinstance(target, str) else None
    if not isinstance(target, str) or service is None:
        raise InvalidParameterValue.constraint(
            "deadLetterConfig.targetArn",
            "Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()",
            target,
        )
    return target


def layer_arns(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    """``Layers``: a list of layer version ARNs (checked and resolved by the core)."""
    value = body.get("Layers")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameterValue("Layers must be a list of layer version ARNs")
    return tuple(value)


def tracing_active(body: Mapping[str, Any], default: bool) -> bool:
    """``TracingConfig.Mode``: Active (X-Ray segments, lamina.xray) or PassThrough."""
    tracing = body.get("TracingConfig")
    if tracing is None:
        return default
    mode = tracing.get("Mode", "PassThrough") if isinstance(tracing, dict) else None
    if mode not in ("Active", "PassThrough"):
        raise InvalidParameterValue.constraint(
            "tracingConfig.mode", "Member must satisfy enum value set: [Active, PassThrough]", mode
        )
    return bool(mode == "Active")


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    tracing_active(body, False)  # refuses a mode that is neither
    for key, what in _UNSUPPORTED.items():
        value = body.get(key)
        if _is_empty(value):
            continue
        raise InvalidParameterValue(f"Lamina does not support {what} ({key}).")
    if body.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValue(
            "Lamina runs Zip packages; container images (PackageType Image) are not supported"
        )


def _is_empty(value: object) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return True
    if isinstance(value, dict):
        return all(_is_empty(v) for v in value.values())
    return False


def decode_zip(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise InvalidParameterValue("ZipFile must be base64-encoded zip content")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue("ZipFile is not valid base64") from exc


def code_ref(body: Mapping[str, Any]) -> CodeRef:
    """``ZipFile`` or ``S3Bucket``/``S3Key`` (the Code object, or UpdateFunctionCode's body)."""
    if body.get("ImageUri"):
        raise InvalidParameterValue(
            "Lamina runs Zip packages; container images (ImageUri) are not supported"
        )
    if body.get("S3ObjectVersion"):
        raise InvalidParameterValue(
            "S3ObjectVersion is not supported: the code bucket folder keeps one version"
        )
    if body.get("ZipFile") is not None:
        if body.get("S3Bucket") or body.get("S3Key"):
            raise InvalidParameterValue(
                "Please do not provide other FunctionCode parameters when providing a ZipFile."
            )
        return CodeRef(zip_file=decode_zip(body["ZipFile"]))
    bucket, key = body.get("S3Bucket"), body.get("S3Key")
    if bucket or key:
        if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
            raise InvalidParameterValue(
                "Please provide both S3Bucket and S3Key for the function code."
            )
        return CodeRef(s3_bucket=bucket, s3_key=key)
    raise InvalidParameterValue("Please provide a source for function code.")


def tags(value: object) -> dict[str, str]:
    """A ``Tags`` map, checked as Lambda does (keys 1-128, values 0-256, no ``aws:``)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameterValue("Tags must be a map of strings to strings")
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not isinstance(val, str):
            raise InvalidParameterValue("Tags must be a map of strings to strings")
        if not 1 <= len(key) <= 128:
            raise InvalidParameterValue.constraint(
                "tags",
                "Map keys must satisfy constraint: [Member must have length less than or equal "
                "to 128, Member must have length greater than or equal to 1]",
                key,
            )
        if len(val) > 256:
            raise InvalidParameterValue(
                f"1 validation error detected: Value at 'tags.{key}' failed to satisfy "
                "constraint: Member must have length less than or equal to 256"
            )
        if key.lower().startswith("aws:"):
            raise InvalidParameterValue(
                f"Tag key '{key}' is reserved: keys starting with 'aws:' are for AWS use."
            )
        out[key] = val
    if len(out) > MAX_TAGS:
        raise InvalidParameterValue(
            f"Number of tags exceeds resource tag limit of {MAX_TAGS}. Tags: {len(out)}"
        )
    return out


# -- whole requests --------------------------------------------------------------------
def parse_create(body: Mapping[str, Any], name: str, default_role: str) -> CreateRequest:
    """CreateFunction's body; ``name`` is already resolved from FunctionName."""
    refuse_unsupported(body)
    code = body.get("Code")
    if not isinstance(code, dict):
        raise InvalidParameterValue("Please provide a source for function code.")
    if body.get("Runtime") is None or body.get("Handler") is None:
        raise InvalidParameterValue(
            "Runtime and Handler are mandatory parameters for functions created with "
            "deployment packages."
        )
    fmt = log_format(body, "Text")
    app_level, system_level = log_levels(body, fmt, ("INFO", "INFO"))
    config = FunctionConfig(
        name=name,
        runtime=string(body, "Runtime"),
        handler=string(body, "Handler"),
        code_sha256="0" * 64,
        code_size=0,
        memory_mb=integer(body, "MemorySize", 128),
        timeout_s=integer(body, "Timeout", 3),
        environment=environment(body, {}),
        ephemeral_mb=ephemeral(body, 512),
        architecture=architecture(body, "x86_64"),  # type: ignore[arg-type]
        description=string(body, "Description"),
        role=role(body, default_role),
        log_format=fmt,  # type: ignore[arg-type]
        application_log_level=app_level,  # type: ignore[arg-type]
        system_log_level=system_level,  # type: ignore[arg-type]
        log_group=custom_log_group(body, ""),
        snap_start=snap_start(body, False),
        dead_letter_arn=dead_letter_arn(body, ""),
        tracing_active=tracing_active(body, False),
    )
    return CreateRequest(
        config, code_ref(code), boolean(body, "Publish"), tags(body.get("Tags")), layer_arns(body)
    )


def parse_configuration_update(body: Mapping[str, Any], cfg: FunctionConfig) -> FunctionConfig:
    """UpdateFunctionConfiguration's body applied to ``cfg`` (not yet validated or stamped)."""
    refuse_unsupported(body)
    fmt = log_format(body, cfg.log_format)
    app_level, system_level = log_levels(
        body, fmt, (cfg.application_log_level or "INFO", cfg.system_log_level or "INFO")
    )
    return cfg.with_changes(
        runtime=string(body, "Runtime", cfg.runtime),
        handler=string(body, "Handler", cfg.handler),
        memory_mb=integer(body, "MemorySize", cfg.memory_mb),
        timeout_s=integer(body, "Timeout", cfg.timeout_s),
        environment=environment(body, cfg.environment),
        ephemeral_mb=ephemeral(body, cfg.ephemeral_mb),
        description=string(body, "Description", cfg.description),
        role=role(body, cfg.role),
        log_format=fmt,
        application_log_level=app_level,
        system_log_level=system_level,
        log_group=custom_log_group(body, cfg.log_group),
        snap_start=snap_start(body, cfg.snap_start),
        dead_letter_arn=dead_letter_arn(body, cfg.dead_letter_arn),
        tracing_active=tracing_active(body, cfg.tracing_active),
    )


def parse_code_update(body: Mapping[str, Any]) -> CodeUpdate:
    archs = body.get("Architectures")
    return CodeUpdate(
        code=code_ref(body),
        architecture=None if archs is None else architecture(body, "x86_64"),
        publish=boolean(body, "Publish"),
        dry_run=boolean(body, "DryRun"),
        revision_id=optional_string(body, "RevisionId"),
    )
