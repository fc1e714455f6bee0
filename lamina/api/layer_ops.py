"""Layers: Publish/Get/GetByArn/List/ListVersions/DeleteLayerVersion and their permissions.

Shapes are botocore's (``GetLayerVersionResponse``, ``LayersListItem``,
``LayerVersionsListItem``). ``GetLayerVersionByArn`` shares ListLayers' path
(``GET /2018-10-31/layers?find=LayerVersion&Arn=...``), so ListLayers hands it over.
"""

from __future__ import annotations

import asyncio
import json
import re

from lamina.api.answers import empty_response, json_body, json_response
from lamina.api.bodies import code_ref, string
from lamina.api.code_source import read_code
from lamina.api.context import ApiContext, Handler
from lamina.api.paging import max_items, page
from lamina.api.shapes import code_sha256_b64
from lamina.arns import parse_layer_name, parse_layer_version_arn
from lamina.errors import InvalidParameterValue
from lamina.layers import Layers
from lamina.models.function import DESCRIPTION_MAX
from lamina.models.layer import (
    LayerVersion,
    PublishRequest,
    validate_compatible_architectures,
    validate_compatible_runtimes,
    validate_license,
    validate_permission,
)
from lamina.wire.http import Request
from lamina.wire.server import Response


def _version_number(raw: str) -> int:
    try:
        number = int(raw)
    except ValueError:
        raise InvalidParameterValue.constraint(
            "versionNumber", "Member must be a number", raw
        ) from None
    return number


class LayerOps:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.layers: Layers = ctx.functions.layers

    def handlers(self) -> dict[str, Handler]:
        return {
            "PublishLayerVersion": self.publish,
            "GetLayerVersion": self.get,
            "ListLayers": self.list_layers,
            "ListLayerVersions": self.list_versions,
            "DeleteLayerVersion": self.delete,
            "AddLayerVersionPermission": self.add_permission,
            "GetLayerVersionPolicy": self.get_policy,
            "RemoveLayerVersionPermission": self.remove_permission,
        }

    # -- shapes --------------------------------------------------------------------------------
    def _item(self, layer: LayerVersion) -> dict[str, object]:
        """A ``LayerVersionsListItem``."""
        body: dict[str, object] = {
            "LayerVersionArn": self.layers.version_arn(layer),
            "Version": layer.version,
            "Description": layer.description,
            "CreatedDate": layer.created_date,
        }
        if layer.compatible_runtimes:
            body["CompatibleRuntimes"] = list(layer.compatible_runtimes)
        if layer.compatible_architectures:
            body["CompatibleArchitectures"] = list(layer.compatible_architectures)
        if layer.license_info:
            body["LicenseInfo"] = layer.license_info
        return body

    def _version(self, req: Request, layer: LayerVersion) -> dict[str, object]:
        """A ``GetLayerVersionResponse`` (and PublishLayerVersion's answer)."""
        location = self.ctx.presigned_url(req, f"/lamina/v1/code/{layer.code_sha256}.zip")
        return {
            "Content": {
                "Location": location,
                "CodeSha256": code_sha256_b64(layer.code_sha256),
                "CodeSize": layer.code_size,
            },
            "LayerArn": self.layers.arn(layer.name),
            **self._item(layer),
        }

    # -- operations ----------------------------------------------------------------------------
    async def publish(self, req: Request, params: dict[str, str]) -> Response:
        name = parse_layer_name(params["LayerName"]).name
        body = json_body(req)
        content = body.get("Content")
        if not isinstance(content, dict):
            raise InvalidParameterValue(
                "1 validation error detected: Value null at 'content' failed to satisfy "
                "constraint: Member must not be null"
            )
        description = string(body, "Description")
        if len(description) > DESCRIPTION_MAX:
            raise InvalidParameterValue.constraint(
                "description", f"Member must have length less than or equal to {DESCRIPTION_MAX}"
            )
        request = PublishRequest(
            description=description,
            compatible_runtimes=validate_compatible_runtimes(body.get("CompatibleRuntimes")),
            compatible_architectures=validate_compatible_architectures(
                body.get("CompatibleArchitectures")
            ),
            license_info=validate_license(body.get("LicenseInfo")),
        )
        ref = code_ref(content)
        package = ref.zip_file
        if package is None:
            package = await asyncio.to_thread(
                read_code, ref, self.ctx.settings.buckets_dir, self.ctx.s3_blob
            )
        # Storing checks and may unpack-check up to 250 MB: off the event loop.
        layer = await asyncio.to_thread(self.layers.publish, name, request, package)
        return json_response(201, self._version(req, layer))

    def get(self, req: Request, params: dict[str, str]) -> Response:
        name = parse_layer_name(params["LayerName"]).name
        layer = self.layers.get(name, _version_number(params["VersionNumber"]))
        return json_response(200, self._version(req, layer))

    def list_layers(self, req: Request, params: dict[str, str]) -> Response:
        q = req.query
        find = q.get("find")
        if find == "LayerVersion":
            return self.get_by_arn(req)
        if find is not None:
            raise InvalidParameterValue.constraint(
                "find", "Member must satisfy enum value set: [LayerVersion]", find
            )
        if "Arn" in q:
            raise InvalidParameterValue("Arn is read only with find=LayerVersion")
        runtime, arch = _filters(q)
        latest = self.layers.latest_of_each(runtime, arch)
        chunk, marker = page(
            latest,
            lambda layer: layer.name,
            q.get("Marker") or None,
            max_items(q.get("MaxItems"), most=50),
        )
        body: dict[str, object] = {
            "Layers": [
                {
                    "LayerName": layer.name,
                    "LayerArn": self.layers.arn(layer.name),
                    "LatestMatchingVersion": self._item(layer),
                }
                for layer in chunk
            ]
        }
        if marker:
            body["NextMarker"] = marker
        return json_response(200, body)

    def get_by_arn(self, req: Request) -> Response:
        arn = req.query.get("Arn") or ""
        ref = parse_layer_version_arn(arn)
        assert ref.version is not None
        return json_response(200, self._version(req, self.layers.get(ref.name, ref.version)))

    def list_versions(self, req: Request, params: dict[str, str]) -> Response:
        name = parse_layer_name(params["LayerName"]).name
        q = req.query
        runtime, arch = _filters(q)
        versions = [v for v in self.layers.versions(name) if v.matches(runtime, arch)]
        chunk, marker = page(
            versions,
            # Newest first: the key must grow as versions get older.
            lambda layer: f"{10**10 - layer.version:011d}",
            q.get("Marker") or None,
            max_items(q.get("MaxItems"), most=50),
        )
        body: dict[str, object] = {"LayerVersions": [self._item(v) for v in chunk]}
        if marker:
            body["NextMarker"] = marker
        return json_response(200, body)

    def delete(self, req: Request, params: dict[str, str]) -> Response:
        name = parse_layer_name(params["LayerName"]).name
        self.layers.delete(name, _version_number(params["VersionNumber"]))
        return empty_response(204)

    # -- permissions ---------------------------------------------------------------------------
    def add_permission(self, req: Request, params: dict[str, str]) -> Response:
        name = parse_layer_name(params["LayerName"]).name
        version = _version_number(params["VersionNumber"])
        body = json_body(req)
        permission = validate_permission(
            body.get("StatementId"),
            body.get("Action"),
            body.get("Principal"),
            body.get("OrganizationId"),
        )
        added, revision = self.layers.add_permission(
            name, version, permission, req.query.get("RevisionId") or None
        )
        layer = self.layers.get(name, version)
        statement = added.statement(self.layers.version_arn(layer))
        return json_response(201, {"Statement": json.dumps(statement), "RevisionId": revision})

    def get_policy(self, req: Request, params: dict[str, str]) -> Response:
        name = parse_layer_name(params["LayerName"]).name
        version = _version_number(params["VersionNumber"])
        statements, revision = self.layers.policy(name, version)
        arn = self.layers.version_arn(self.layers.get(name, version))
        policy = {
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": [s.statement(arn) for s in statements],
        }
        return json_response(200, {"Policy": json.dumps(policy), "RevisionId": revision})

    def remove_permission(self, req: Request, params: dict[str, str]) -> Response:
        name = parse_layer_name(params["LayerName"]).name
        version = _version_number(params["VersionNumber"])
        self.layers.remove_permission(
            name, version, params["StatementId"], req.query.get("RevisionId") or None
        )
        return empty_response(204)


# Lambda's runtime identifiers, by family (its model's enum, future versions included).
_RUNTIME = re.compile(
    r"nodejs(\d+(\.\d+)?(\.x)?|4\.3-edge)?|java\d+(\.al2(023)?)?|python\d\.\d+|dotnetcore\d\.\d"
    r"|dotnet\d+|go1\.x|ruby\d\.\d|provided(\.al2(0\d\d)?)?|custom"
)


def _filters(q: dict[str, str]) -> tuple[str | None, str | None]:
    """The ``CompatibleRuntime`` / ``CompatibleArchitecture`` filters, validated."""
    runtime = q.get("CompatibleRuntime") or None
    arch = q.get("CompatibleArchitecture") or None
    if runtime is not None and not _RUNTIME.fullmatch(runtime):
        raise InvalidParameterValue.constraint(
            "compatibleRuntime", "Member must satisfy enum value set", runtime
        )
    if arch is not None and arch not in ("x86_64", "arm64"):
        raise InvalidParameterValue.constraint(
            "compatibleArchitecture", "Member must satisfy enum value set: [x86_64, arm64]", arch
        )
    return runtime, arch
