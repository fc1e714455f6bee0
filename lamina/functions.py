"""Function definitions: control-plane writes, and the in-memory index the invoke path reads.

The invoke path never touches SQLite: every ``$LATEST`` configuration is held in a dict
loaded at start and updated by each write here, after the store has committed it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from lamina.config import Settings
from lamina.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    RequestTooLarge,
    ResourceConflict,
    ResourceNotFound,
)
from lamina.models.function import (
    LATEST,
    FunctionConfig,
    validate_architecture,
    validate_config,
    validate_name,
)
from lamina.store.code import CodeStore
from lamina.store.metadata import MetadataStore
from lamina.store.stamps import new_revision_id, now_lambda_timestamp

# The CreateFunction request carries the zip base64-encoded; Lambda caps the request.
MAX_CREATE_REQUEST_BYTES = 69_905_067

Drain = Callable[[str], Awaitable[None]]


def _int(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{key} must be an integer, not {value!r}")
    return value


def _str(body: Mapping[str, Any], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise InvalidParameterValue(f"{key} must be a string, not {type(value).__name__}")
    return value


def _environment(body: Mapping[str, Any], default: dict[str, str]) -> dict[str, str]:
    env = body.get("Environment")
    if env is None:
        return default
    if not isinstance(env, dict):
        raise InvalidParameterValue("Environment must be an object with Variables")
    variables = env.get("Variables", {})
    if not isinstance(variables, dict):
        raise InvalidParameterValue("Environment.Variables must be a map of strings")
    return {str(k): v for k, v in variables.items()}


def _architecture(body: Mapping[str, Any], default: str) -> str:
    archs = body.get("Architectures")
    if archs is None:
        return default
    if not isinstance(archs, list) or len(archs) != 1 or not isinstance(archs[0], str):
        raise InvalidParameterValue(
            "1 validation error detected: Value at 'architectures' failed to satisfy "
            "constraint: Member must have length less than or equal to 1"
        )
    return validate_architecture(archs[0])


def _ephemeral(body: Mapping[str, Any], default: int) -> int:
    eph = body.get("EphemeralStorage")
    if eph is None:
        return default
    if not isinstance(eph, dict):
        raise InvalidParameterValue("EphemeralStorage must be an object with Size")
    return _int(eph, "Size", default)


def _log_format(body: Mapping[str, Any], default: str) -> str:
    lc = body.get("LoggingConfig")
    if lc is None:
        return default
    if not isinstance(lc, dict):
        raise InvalidParameterValue("LoggingConfig must be an object")
    fmt = lc.get("LogFormat", default)
    if fmt not in ("Text", "JSON"):
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{fmt}' at 'loggingConfig.logFormat' failed to "
            "satisfy constraint: Member must satisfy enum value set: [Text, JSON]"
        )
    return str(fmt)


def _snap_start(body: Mapping[str, Any], default: bool) -> bool:
    snap = body.get("SnapStart")
    if snap is None:
        return default
    apply_on = snap.get("ApplyOn") if isinstance(snap, dict) else None
    if apply_on not in ("PublishedVersions", "None"):
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{apply_on}' at 'snapStart.applyOn' failed to "
            "satisfy constraint: Member must satisfy enum value set: [PublishedVersions, None]"
        )
    return bool(apply_on == "PublishedVersions")


def decode_zip(value: object) -> bytes:
    if not isinstance(value, str):
        raise InvalidParameterValue("Code.ZipFile must be base64-encoded zip content")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue("Code.ZipFile is not valid base64") from exc


class Functions:
    """Create, read, update and delete functions; keep the hot-path index current."""

    def __init__(
        self, settings: Settings, metadata: MetadataStore, code: CodeStore, drain: Drain
    ) -> None:
        self.settings = settings
        self.metadata = metadata
        self.code = code
        self._drain = drain
        self._latest: dict[str, FunctionConfig] = {c.name: c for c in metadata.all_latest()}
        self._versions: dict[tuple[str, str], FunctionConfig] = {}

    # -- reads (the invoke path) ------------------------------------------------------
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        if qualifier is None or qualifier == LATEST:
            cfg = self._latest.get(name)
            if cfg is None:
                raise ResourceNotFound(f"Function not found: {self._arn(name)}")
            return cfg
        key = (name, qualifier)
        cfg = self._versions.get(key)
        if cfg is None:
            if name not in self._latest:
                raise ResourceNotFound(f"Function not found: {self._arn(name)}")
            try:
                cfg = self.metadata.get_function(name, qualifier)
            except ResourceNotFound:
                raise ResourceNotFound(
                    f"Function not found: {self._arn(name)}:{qualifier}"
                ) from None
            self._versions[key] = cfg
        return cfg

    def total_code_size(self) -> int:
        return sum(c.code_size for c in self._latest.values())

    def names(self) -> list[str]:
        return sorted(self._latest)

    def list(self, marker: str | None, max_items: int) -> tuple[list[FunctionConfig], str | None]:
        return self.metadata.list_functions(marker, max_items)

    # -- writes -----------------------------------------------------------------------
    def create(self, body: Mapping[str, Any]) -> FunctionConfig:
        name = validate_name(_str(body, "FunctionName"))
        if name in self._latest:
            raise ResourceConflict(f"Function already exist: {name}")
        package_type = body.get("PackageType", "Zip")
        if package_type != "Zip":
            raise InvalidParameterValue(
                "Lamina runs Zip packages; container images (PackageType Image) are not supported"
            )
        code = body.get("Code")
        if not isinstance(code, dict) or "ZipFile" not in code:
            raise InvalidParameterValue(
                "Code must contain ZipFile (base64 zip); S3Bucket/S3Key are not supported yet"
            )
        runtime = _str(body, "Runtime")
        cfg = FunctionConfig(
            name=name,
            runtime=runtime,
            handler=_str(body, "Handler"),
            code_sha256="0" * 64,
            code_size=0,
            memory_mb=_int(body, "MemorySize", 128),
            timeout_s=_int(body, "Timeout", 3),
            environment=_environment(body, {}),
            ephemeral_mb=_ephemeral(body, 512),
            architecture=_architecture(body, "x86_64"),  # type: ignore[arg-type]
            description=_str(body, "Description"),
            role=_str(body, "Role", f"arn:aws:iam::{self.settings.account_id}:role/lambda-role"),
            log_format=_log_format(body, "Text"),  # type: ignore[arg-type]
            snap_start=_snap_start(body, False),
        )
        validate_config(cfg)
        package = self.code.put_zip(decode_zip(code["ZipFile"]))
        cfg = cfg.with_changes(
            code_sha256=package.sha256_hex,
            code_size=package.size,
            revision_id=new_revision_id(),
            last_modified=now_lambda_timestamp(),
        )
        self.metadata.create_function(cfg)
        self._latest[name] = cfg
        if body.get("Publish") is True:
            self.publish(name)
        return cfg

    async def update_code(self, name: str, body: Mapping[str, Any]) -> FunctionConfig:
        cfg = self.get(name)
        self._check_revision(cfg, body)
        if "ZipFile" not in body:
            raise InvalidParameterValue(
                "UpdateFunctionCode needs ZipFile (base64 zip); S3 sources are not supported yet"
            )
        package = self.code.put_zip(decode_zip(body["ZipFile"]))
        arch = _architecture(body, cfg.architecture)
        new = cfg.with_changes(
            code_sha256=package.sha256_hex,
            code_size=package.size,
            architecture=arch,
            revision_id=new_revision_id(),
            last_modified=now_lambda_timestamp(),
        )
        await self._replace(new)
        if body.get("Publish") is True:
            self.publish(name)
        return new

    async def update_configuration(self, name: str, body: Mapping[str, Any]) -> FunctionConfig:
        cfg = self.get(name)
        self._check_revision(cfg, body)
        new = cfg.with_changes(
            runtime=_str(body, "Runtime", cfg.runtime),
            handler=_str(body, "Handler", cfg.handler),
            memory_mb=_int(body, "MemorySize", cfg.memory_mb),
            timeout_s=_int(body, "Timeout", cfg.timeout_s),
            environment=_environment(body, cfg.environment),
            ephemeral_mb=_ephemeral(body, cfg.ephemeral_mb),
            description=_str(body, "Description", cfg.description),
            role=_str(body, "Role", cfg.role),
            log_format=_log_format(body, cfg.log_format),
            snap_start=_snap_start(body, cfg.snap_start),
            revision_id=new_revision_id(),
            last_modified=now_lambda_timestamp(),
        )
        validate_config(new)
        await self._replace(new)
        return new

    def publish(self, name: str) -> FunctionConfig:
        cfg = self.get(name)
        version = self.metadata.publish_version(cfg)
        self._versions[(name, version.version)] = version
        return version

    async def delete(self, name: str, qualifier: str | None = None) -> None:
        self.get(name, qualifier)
        if qualifier is None or qualifier == LATEST:
            self.metadata.delete_function(name)
            self._latest.pop(name, None)
            self._versions = {k: v for k, v in self._versions.items() if k[0] != name}
        else:
            self.metadata.delete_function(name, qualifier)
            self._versions.pop((name, qualifier), None)
        await self._drain(name)

    async def _replace(self, new: FunctionConfig) -> None:
        self.metadata.put_function(new)
        self._latest[new.name] = new
        # Environments of the old code or configuration must never serve again.
        await self._drain(new.name)

    def _check_revision(self, cfg: FunctionConfig, body: Mapping[str, Any]) -> None:
        rid = body.get("RevisionId")
        if rid is not None and rid != cfg.revision_id:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id"
            )

    def _arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.settings.region}:{self.settings.account_id}:function:{name}"


def check_create_size(length: int) -> None:
    if length > MAX_CREATE_REQUEST_BYTES:
        raise RequestTooLarge(
            f"Request must be smaller than {MAX_CREATE_REQUEST_BYTES} bytes for the "
            "CreateFunction operation"
        )
