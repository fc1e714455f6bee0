"""``AWS::Serverless::Function`` and ``AWS::Lambda::Function`` properties → :class:`FunctionSpec`.

Properties arrive resolved (no intrinsics left). Each one is applied, or listed: as
*ignored* when it has no meaning on Lamina (IAM policies and roles: Lamina has no IAM), or
as *unsupported* when it would change behaviour Lamina cannot give (VPCs, file systems).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina import arns
from lamina.sam.errors import TemplateError
from lamina.sam.model import (
    LOGICAL_ID_TAG,
    STACK_TAG,
    CodeSource,
    FunctionSpec,
    InvokeConfigSpec,
    LayerSpec,
    OwnRole,
    Skipped,
    UrlSpec,
)
from lamina.sam.names import role_name
from lamina.sam.policies import role_identity
from lamina.sam.public_layers import public_layer
from lamina.sam.runtimes import choose_runtime

# Properties that mean nothing on Lamina, and why.
IGNORED = {
    "AssumeRolePolicyDocument": "the role Lamina makes trusts lambda.amazonaws.com",
    "PermissionsBoundary": "no permissions boundaries",
    "KmsKeyArn": "no KMS; variables are stored in the data directory",
    "CodeSigningConfigArn": "no code signing",
    "DeploymentPreference": "no CodeDeploy: the alias moves to the new version at once",
    "AutoPublishCodeSha256": "versions are published when code or configuration changes",
    "AutoPublishAliasAllProperties": "versions are published when code or configuration changes",
    "VersionDescription": "published versions carry no description here",
    "PropagateTags": "tags go on the function only",
    "RuntimeManagementConfig": "runtimes are the host's interpreters",
    "SourceKMSKeyArn": "no KMS",
    "Connectors": "no IAM",
    "Events": "",  # handled by lamina.sam.events
}
UNSUPPORTED = {
    "VpcConfig": "no VPCs: the function uses the host's loopback network",
    "FileSystemConfigs": "no EFS mounts",
    "ImageConfig": "no container images",
    "ImageUri": "no container images",
    "CapacityProviderConfig": "no capacity providers",
}
_APPLIED = {
    "FunctionName",
    "Handler",
    "Runtime",
    "CodeUri",
    "InlineCode",
    "Code",
    "MemorySize",
    "Timeout",
    "Environment",
    "Architectures",
    "EphemeralStorage",
    "ReservedConcurrentExecutions",
    "RecursiveLoop",
    "AutoPublishAlias",
    "ProvisionedConcurrencyConfig",
    "Layers",
    "FunctionUrlConfig",
    "Description",
    "Tags",
    "SnapStart",
    "LoggingConfig",
    "PackageType",
    "EventInvokeConfig",
    "DeadLetterQueue",
    "DeadLetterConfig",
    "Role",
    "Policies",
    "RolePath",
    "Tracing",
    "TracingConfig",
}


@dataclass
class FunctionResult:
    spec: FunctionSpec | None
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _int(props: dict[str, Any], key: str, default: int, where: str) -> int:
    value = props.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TemplateError(f"{where}.{key}: {value!r} is not a whole number") from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _code(lid: str, props: dict[str, Any], metadata: dict[str, Any], base: Path) -> CodeSource:
    build = metadata.get("BuildMethod")
    build_method = str(build) if build else None
    properties = metadata.get("BuildProperties") or {}
    binary = properties.get("Binary") if isinstance(properties, dict) else None
    if "InlineCode" in props:
        return CodeSource("inline", inline=str(props["InlineCode"]))
    code = props.get("CodeUri", props.get("Code"))
    if isinstance(code, dict):
        if "ZipFile" in code:
            return CodeSource("inline", inline=str(code["ZipFile"]))
        where = code.get("S3Bucket") or code.get("Bucket")
        raise TemplateError(
            f"{lid}: code in S3 ({where}/{code.get('S3Key') or code.get('Key')}) cannot be "
            "fetched by Lamina: point CodeUri at the local source directory"
        )
    if code is None:
        code = "."  # SAM CLI builds the template's directory when CodeUri is left out
    text = str(code)
    if text.startswith("s3://"):
        raise TemplateError(
            f"{lid}: CodeUri {text} is in S3: point CodeUri at the local source directory"
        )
    path = (base / text).resolve()
    if not path.exists():
        raise TemplateError(f"{lid}: CodeUri {text} does not exist ({path})")
    if path.is_file() and path.suffix in (".zip", ".jar"):
        return CodeSource("zip", path=path, build_method=build_method)
    return CodeSource(
        "dir", path=path, build_method=build_method, binary=str(binary) if binary else None
    )


def _url(config: Any, where: str) -> UrlSpec:
    if not isinstance(config, dict):
        raise TemplateError(f"{where}: FunctionUrlConfig must be a mapping")
    auth = str(config.get("AuthType", "NONE"))
    if auth not in ("NONE", "AWS_IAM"):
        raise TemplateError(f"{where}: FunctionUrlConfig.AuthType must be NONE or AWS_IAM")
    cors = config.get("Cors")
    return UrlSpec(auth, str(config.get("InvokeMode", "BUFFERED")), cors or None)


def _invoke_config(raw: Any, where: str, skipped: list[Skipped]) -> InvokeConfigSpec | None:
    """SAM's EventInvokeConfig; destinations Lamina cannot deliver to are listed."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise TemplateError(f"{where}.EventInvokeConfig must be a mapping")
    destinations: dict[str, str | None] = {"OnSuccess": None, "OnFailure": None}
    for key in destinations:
        dest = (raw.get("DestinationConfig") or {}).get(key) or {}
        if not dest:
            continue
        kind = str(dest.get("Type", ""))
        arn = dest.get("Destination")
        if kind in ("SQS", "SNS", "Lambda", "EventBridge") and arn:
            destinations[key] = str(arn)
        else:
            what = f"{where}.EventInvokeConfig.DestinationConfig.{key}"
            reason = (
                f"{kind} destinations need an explicit Destination ARN"
                if kind in ("SQS", "SNS", "Lambda", "EventBridge")
                else f"no {kind or 'untyped'} destinations: queues, topics, functions and event "
                "buses only"
            )
            skipped.append(Skipped(what, reason))

    def number(key: str) -> int | None:
        return None if raw.get(key) is None else int(raw[key])

    return InvokeConfigSpec(
        number("MaximumRetryAttempts"),
        number("MaximumEventAgeInSeconds"),
        destinations["OnSuccess"],
        destinations["OnFailure"],
    )


def _tags(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): _text(v) for k, v in raw.items()}
    if isinstance(raw, list):  # CloudFormation's [{Key, Value}]
        return {str(t["Key"]): _text(t.get("Value", "")) for t in raw if isinstance(t, dict)}
    return {}


def translate_function(
    lid: str,
    kind: str,
    name: str,
    props: dict[str, Any],
    metadata: dict[str, Any],
    *,
    stack: str,
    base: Path,
    layers: dict[str, LayerSpec],
    region: str = "us-east-1",
    account: str = "000000000000",
) -> FunctionResult:
    """One function resource, resolved, as a spec plus what was left out."""
    where = f"{lid}"
    result = FunctionResult(None)
    for key in props:
        if IGNORED.get(key):
            result.skipped.append(Skipped(f"{lid}.{key}", IGNORED[key], ignored=True))
        elif key in UNSUPPORTED:
            result.skipped.append(Skipped(f"{lid}.{key}", UNSUPPORTED[key]))
        elif key not in _APPLIED and key not in IGNORED:
            result.skipped.append(Skipped(f"{lid}.{key}", "not a property Lamina knows"))
    if props.get("PackageType", "Zip") != "Zip":
        raise TemplateError(f"{lid}: PackageType {props['PackageType']}: no container images")
    wanted = props.get("Runtime")
    if not wanted:
        raise TemplateError(f"{lid}: Runtime is required (Lamina runs zip packages)")
    method = str(metadata.get("BuildMethod") or "")
    if (
        method
        and method.lower() not in ("makefile", "rust-cargolambda")
        and not (method.startswith(("python", "nodejs", "provided")))
    ):
        result.notes.append(
            f"{lid}: Metadata.BuildMethod {method} is not run by Lamina: the code directory "
            "is packaged as Python/Node.js/Rust sources are (build it first, or use makefile)"
        )
    runtime, note = choose_runtime(str(wanted))
    if runtime is None:
        raise TemplateError(f"{lid}: {note}")
    if note:
        result.notes.append(f"{lid}: {note}")
    handler = props.get("Handler")
    if not handler:
        if runtime.startswith("provided"):
            handler = "bootstrap"
        else:
            raise TemplateError(f"{lid}: Handler is required for {runtime}")
    archs = props.get("Architectures") or ["x86_64"]
    if not isinstance(archs, list) or len(archs) != 1 or archs[0] not in ("x86_64", "arm64"):
        raise TemplateError(f"{where}.Architectures must be [x86_64] or [arm64]")
    env = props.get("Environment") or {}
    variables = (env.get("Variables") or {}) if isinstance(env, dict) else {}
    if not isinstance(variables, dict):
        raise TemplateError(f"{where}.Environment.Variables must be a mapping")
    storage = props.get("EphemeralStorage") or {}
    reserved = props.get("ReservedConcurrentExecutions")
    alias = props.get("AutoPublishAlias")
    snap = props.get("SnapStart") or {}
    logging = props.get("LoggingConfig") or {}
    chosen_layers: list[LayerSpec] = []
    for arn in props.get("Layers") or []:
        layer = layers.get(str(arn))
        if layer is not None:
            chosen_layers.append(layer)
        elif (public := _public(str(arn), runtime, region, account)) is not None:
            layer, source = public
            layers[str(arn)] = layer  # the next function naming it shares the build
            chosen_layers.append(layer)
            result.notes.append(
                f"{lid}: public layer {arn} is rebuilt as layer {layer.name} from {source} "
                "(Lamina cannot fetch AWS's layers)"
            )
        elif arns.is_layer_version_arn(str(arn)) and _foreign(str(arn), account):
            # A public layer of another account (AWS's, a vendor's): Lamina can neither fetch
            # nor hold it, so the function is deployed without it and the report says so.
            result.skipped.append(
                Skipped(
                    f"{lid}.Layers {arn}",
                    f"a layer of another account ({arns.parse_layer_version_arn(str(arn)).account})"
                    ": Lamina cannot fetch it, so the function is deployed without it; put its "
                    "content in an AWS::Serverless::LayerVersion if the code needs it",
                )
            )
        elif arns.is_layer_version_arn(str(arn)):
            # Published to Lamina already (aws lambda publish-layer-version): used as named.
            chosen_layers.append(LayerSpec(str(arn), "", str(arn), CodeSource("zip")))
            result.notes.append(
                f"{lid}: layer {arn} is not in the template: it must have been published to "
                "Lamina (Lamina cannot fetch AWS's layers)"
            )
        else:
            result.skipped.append(
                Skipped(
                    f"{lid}.Layers {arn}",
                    "not a layer version ARN: put its content in an "
                    "AWS::Serverless::LayerVersion with a local ContentUri",
                )
            )
    tags = _tags(props.get("Tags"))
    tags.update({STACK_TAG: stack, LOGICAL_ID_TAG: lid})
    role_arn, own_role = _role(lid, props, stack=stack, region=region, account=account)
    result.spec = FunctionSpec(
        logical_id=lid,
        name=name,
        runtime=runtime,
        handler=str(handler),
        code=_code(lid, props, metadata, base),
        memory_mb=_int(props, "MemorySize", 128, where),
        timeout_s=_int(props, "Timeout", 3, where),
        environment={str(k): _text(v) for k, v in variables.items()},
        architecture=str(archs[0]),
        ephemeral_mb=_int(storage, "Size", 512, where + ".EphemeralStorage")
        if isinstance(storage, dict)
        else 512,
        description=str(props.get("Description") or ""),
        reserved_concurrency=None if reserved is None else int(reserved),
        alias=str(alias) if alias else None,
        provisioned=_provisioned(props.get("ProvisionedConcurrencyConfig"), alias, where),
        layers=tuple(chosen_layers),
        url=_url(props["FunctionUrlConfig"], where) if props.get("FunctionUrlConfig") else None,
        tags=tags,
        snap_start=isinstance(snap, dict) and snap.get("ApplyOn") == "PublishedVersions",
        log_format=_logging_field(logging, "LogFormat"),
        log_group=_logging_field(logging, "LogGroup"),
        application_log_level=_logging_field(logging, "ApplicationLogLevel"),
        system_log_level=_logging_field(logging, "SystemLogLevel"),
        invoke_config=_invoke_config(props.get("EventInvokeConfig"), where, result.skipped),
        dead_letter_arn=_dead_letter(props, where),
        tracing_active=_tracing(props, where),
        recursive_loop=_recursive_loop(props, where),
        role_arn=role_arn,
        own_role=own_role,
    )
    return result


def _tracing(props: dict[str, Any], where: str) -> bool:
    """SAM's ``Tracing`` (Active or PassThrough), or CloudFormation's ``TracingConfig.Mode``."""
    mode = props.get("Tracing")
    config = props.get("TracingConfig")
    if mode is None and isinstance(config, dict):
        mode = config.get("Mode")
    if mode is None:
        return False
    if mode not in ("Active", "PassThrough"):
        raise TemplateError(f"{where}.Tracing must be Active or PassThrough, not {mode!r}")
    return bool(mode == "Active")


def _recursive_loop(props: dict[str, Any], where: str) -> str:
    """``RecursiveLoop`` (Allow or Terminate, Lambda's default)."""
    value = props.get("RecursiveLoop", "Terminate")
    if value not in ("Allow", "Terminate"):
        raise TemplateError(f"{where}.RecursiveLoop must be Allow or Terminate, not {value!r}")
    return str(value)


def _public(arn: str, runtime: str, region: str, account: str) -> tuple[LayerSpec, str] | None:
    """A known public layer (Powertools) as a layer ``up`` builds and publishes, with what it
    is built from; else None. Built for the function's Python (its compiled wheels must
    load there), else for the Python the layer's name says."""
    known = public_layer(arn)
    if known is None:
        return None
    python = runtime if runtime.startswith("python") else known.python or "python3.12"
    layer = LayerSpec(
        known.name,
        known.name,
        arns.layer_version_arn(region, account, known.name, 1),
        CodeSource("requirements", inline=known.requirements, build_method=python),
        (python,),
        description=f"{arn}, rebuilt from {known.source}",
    )
    return layer, known.source


def _foreign(arn: str, account: str) -> bool:
    """Whether a layer version ARN names another account than the stack's (Lamina's)."""
    return arns.parse_layer_version_arn(arn).account != account


def _role(
    lid: str, props: dict[str, Any], *, stack: str, region: str, account: str
) -> tuple[str, OwnRole | None]:
    """The role the function runs as: its ``Role`` (an ARN, used as given), or the one SAM
    makes for it, ``<stack>-<Fn>Role``, holding its ``Policies``."""
    role = props.get("Role")
    if role:
        if not isinstance(role, str) or not role.startswith("arn:"):
            raise TemplateError(f"{lid}.Role must be a role ARN (got {role!r})")
        return role, None
    path = str(props.get("RolePath") or "/")
    name = role_name(stack, lid)
    identity = role_identity(props.get("Policies"), function=lid, region=region, account=account)
    own = OwnRole(name=name, path=path, managed=identity.managed, inline=dict(identity.inline))
    return arns.role_arn(account, name, path), own


def _logging_field(logging: object, key: str) -> str | None:
    """One LoggingConfig field as the template writes it (None: not set)."""
    if isinstance(logging, dict) and logging.get(key):
        return str(logging[key])
    return None


def _dead_letter(props: dict[str, Any], where: str) -> str:
    """SAM's ``DeadLetterQueue: {Type: SQS|SNS, TargetArn}`` or CloudFormation's
    ``DeadLetterConfig: {TargetArn}``: the queue's or topic's ARN ("" for none)."""
    sam, cfn = props.get("DeadLetterQueue"), props.get("DeadLetterConfig")
    key, value = ("DeadLetterQueue", sam) if sam is not None else ("DeadLetterConfig", cfn)
    if value is None:
        return ""
    if not isinstance(value, dict):
        raise TemplateError(f"{where}.{key} must be a mapping with TargetArn")
    target = str(value.get("TargetArn") or "")
    kind = str(value.get("Type") or (target.split(":")[2].upper() if target.count(":") > 2 else ""))
    if key == "DeadLetterQueue" and kind not in ("SQS", "SNS"):
        raise TemplateError(f"{where}.DeadLetterQueue.Type must be SQS or SNS, not {kind!r}")
    if not target.startswith("arn:"):
        raise TemplateError(
            f"{where}.{key}.TargetArn must be a queue or topic ARN (e.g. !GetAtt Queue.Arn), "
            f"not {target!r}"
        )
    return target


def translate_layer(
    lid: str, name: str, arn: str, props: dict[str, Any], metadata: dict[str, Any], base: Path
) -> LayerSpec:
    """A layer from this template: built from its ContentUri and published to Lamina."""
    content = props.get("ContentUri", props.get("Content"))
    if isinstance(content, dict):
        raise TemplateError(f"{lid}: layer content in S3 cannot be fetched: use a local ContentUri")
    if content is None:
        raise TemplateError(f"{lid}: ContentUri is required")
    path = (base / str(content)).resolve()
    if not path.exists():
        raise TemplateError(f"{lid}: ContentUri {content} does not exist ({path})")
    method = metadata.get("BuildMethod")
    code = CodeSource(
        "zip" if path.is_file() and path.suffix == ".zip" else "dir",
        path=path,
        build_method=str(method) if method else None,
    )
    runtimes = props.get("CompatibleRuntimes") or []
    archs = props.get("CompatibleArchitectures") or []
    return LayerSpec(
        lid,
        name,
        arn,
        code,
        tuple(str(r) for r in runtimes),
        description=str(props.get("Description") or ""),
        license_info=str(props.get("LicenseInfo") or ""),
        compatible_architectures=tuple(str(a) for a in archs),
    )


def _provisioned(raw: object, alias: object, where: str) -> int | None:
    """ProvisionedConcurrencyConfig: provisioned concurrency on the AutoPublishAlias."""
    if raw is None:
        return None
    if not alias:
        # SAM's own words (its translator refuses the template the same way).
        raise TemplateError(
            f"{where}: To set ProvisionedConcurrencyConfig AutoPublishALias must be defined "
            "on the function"
        )
    value = raw.get("ProvisionedConcurrentExecutions") if isinstance(raw, dict) else None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TemplateError(
            f"{where}.ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions must be an "
            "integer of at least 1"
        )
    return value
