"""Lamina's values rendered as Lambda's JSON shapes (botocore's service model names)."""

from __future__ import annotations

import base64

from lamina.arns import function_arn
from lamina.logs.lines import function_log_group
from lamina.models.alias import Alias
from lamina.models.function import LATEST, FunctionConfig
from lamina.models.function_url import FunctionUrlConfig


def code_sha256_b64(hex_digest: str) -> str:
    """Lambda shows CodeSha256 as the base64 of the raw digest."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def function_configuration(
    cfg: FunctionConfig, region: str, account: str, *, qualified: bool = False
) -> dict[str, object]:
    """``qualified``: name ``$LATEST`` in the ARN too, as ListVersionsByFunction does."""
    unqualified = cfg.version == LATEST and not qualified
    arn = function_arn(region, account, cfg.name, None if unqualified else cfg.version)
    return {
        "FunctionName": cfg.name,
        "FunctionArn": arn,
        "Runtime": cfg.runtime,
        "Role": cfg.role,
        "Handler": cfg.handler,
        "CodeSize": cfg.code_size,
        "Description": cfg.description,
        "Timeout": cfg.timeout_s,
        "MemorySize": cfg.memory_mb,
        "LastModified": cfg.last_modified,
        "CodeSha256": code_sha256_b64(cfg.code_sha256),
        "Version": cfg.version,
        # Lambda leaves Environment out when there are no variables (Terraform reads
        # {"Variables": {}} as drift on every plan).
        **({"Environment": {"Variables": dict(cfg.environment)}} if cfg.environment else {}),
        "TracingConfig": {"Mode": "Active" if cfg.tracing_active else "PassThrough"},
        "RevisionId": cfg.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": [cfg.architecture],
        "EphemeralStorage": {"Size": cfg.ephemeral_mb},
        **({"DeadLetterConfig": {"TargetArn": cfg.dead_letter_arn}} if cfg.dead_letter_arn else {}),
        "SnapStart": {
            "ApplyOn": "PublishedVersions" if cfg.snap_start else "None",
            "OptimizationStatus": "On" if cfg.snap_start and cfg.version != LATEST else "Off",
        },
        "LoggingConfig": logging_config(cfg),
        **(
            {"Layers": [{"Arn": layer.arn, "CodeSize": layer.code_size} for layer in cfg.layers]}
            if cfg.layers
            else {}
        ),
    }


def logging_config(cfg: FunctionConfig) -> dict[str, str]:
    """LoggingConfig as GetFunction shows it: the levels only with the JSON format (INFO
    when none was set), as Lambda answers."""
    shown: dict[str, str] = {"LogFormat": cfg.log_format}
    if cfg.log_format == "JSON":
        shown["ApplicationLogLevel"] = cfg.app_log_level
        shown["SystemLogLevel"] = cfg.sys_log_level
    shown["LogGroup"] = function_log_group(cfg)
    return shown


def alias_configuration(alias: Alias, region: str, account: str) -> dict[str, object]:
    body: dict[str, object] = {
        "AliasArn": function_arn(region, account, alias.function, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.weights:
        body["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
    return body


def url_configuration(
    cfg: FunctionUrlConfig, url: str, region: str, account: str
) -> dict[str, object]:
    body: dict[str, object] = {
        "FunctionUrl": url,
        "FunctionArn": function_arn(region, account, cfg.function, cfg.qualifier),
        "AuthType": cfg.auth_type,
        "CreationTime": cfg.creation_time,
        "LastModifiedTime": cfg.last_modified_time,
        "InvokeMode": cfg.invoke_mode,
    }
    if cfg.cors is not None:
        body["Cors"] = cfg.cors.to_api()
    return body
