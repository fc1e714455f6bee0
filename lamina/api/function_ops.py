"""Functions and versions: Create/Get/List/Update/Delete, PublishVersion, ListVersions."""

from __future__ import annotations

import asyncio
import re

from lamina.api.answers import empty_response, json_body, json_response
from lamina.api.bodies import (
    layer_arns,
    optional_string,
    parse_code_update,
    parse_configuration_update,
    parse_create,
    string,
)
from lamina.api.code_source import read_code
from lamina.api.context import ApiContext, Handler
from lamina.api.paging import max_items, page
from lamina.arns import parse_function_ref, role_arn
from lamina.errors import InvalidParameterValue
from lamina.functions import check_create_size
from lamina.models.function import LATEST, FunctionConfig
from lamina.models.requests import CodeRef
from lamina.wire.http import Request
from lamina.wire.server import Response

# ListFunctions' MasterRegion, as Lambda's model constrains it.
_MASTER_REGION = re.compile(r"ALL|(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}")


def _version_sort_key(cfg: FunctionConfig) -> str:
    """Sorts like the versions do: $LATEST first, then by number (zero-padded)."""
    return "0" * 10 if cfg.version == LATEST else f"{int(cfg.version) + 1:010d}"


def _unqualified(raw: str, what: str) -> str:
    ref = parse_function_ref(raw)
    if ref.qualifier is not None:
        raise InvalidParameterValue(f"{what} does not take a qualified function name: {raw}")
    return ref.name


class FunctionOps:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.functions = ctx.functions

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateFunction": self.create,
            "ListFunctions": self.list,
            "GetFunction": self.get,
            "GetFunctionConfiguration": self.get_configuration,
            "UpdateFunctionCode": self.update_code,
            "UpdateFunctionConfiguration": self.update_configuration,
            "DeleteFunction": self.delete,
            "PublishVersion": self.publish,
            "ListVersionsByFunction": self.list_versions,
            "GetFunctionCodeSigningConfig": self.code_signing_config,
        }

    async def _package(self, ref: CodeRef) -> bytes:
        if ref.zip_file is not None:
            return ref.zip_file
        # A file of up to 50 MB: read it off the event loop.
        return await asyncio.to_thread(
            read_code, ref, self.ctx.settings.buckets_dir, self.ctx.s3_blob
        )

    async def create(self, req: Request, params: dict[str, str]) -> Response:
        check_create_size(len(req.body))
        body = json_body(req)
        name = _unqualified(string(body, "FunctionName"), "CreateFunction")
        default_role = role_arn(self.ctx.account, "lambda-role")
        create = parse_create(body, name, default_role)
        self.ctx.named_role(body)
        package = await self._package(create.code)
        cfg = self.functions.create(create, package)
        return json_response(201, self.ctx.config(cfg))

    def list(self, req: Request, params: dict[str, str]) -> Response:
        q = req.query
        limit = max_items(q.get("MaxItems"))
        marker = q.get("Marker") or None
        version = q.get("FunctionVersion")
        region = q.get("MasterRegion")
        if region is not None and not (len(region) <= 50 and _MASTER_REGION.fullmatch(region)):
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{region}' at 'masterRegion' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                + _MASTER_REGION.pattern
            )
        if version not in (None, "", "ALL"):
            raise InvalidParameterValue.constraint(
                "functionVersion", "Member must satisfy enum value set: [ALL]", version
            )
        if version == "ALL":
            configs, next_marker = page(
                self.functions.all_versions(),
                lambda c: f"{c.name}\x00{_version_sort_key(c)}",
                marker,
                limit,
            )
        else:
            configs, next_marker = self.functions.list(marker, limit)
        body: dict[str, object] = {"Functions": [self.ctx.config(c) for c in configs]}
        if next_marker:
            body["NextMarker"] = next_marker
        return json_response(200, body)

    def get(self, req: Request, params: dict[str, str]) -> Response:
        ref = parse_function_ref(params["FunctionName"], req.query.get("Qualifier"))
        cfg = self.functions.get(ref.name, ref.qualifier)
        body: dict[str, object] = {
            "Configuration": self.ctx.config(cfg),
            "Code": {
                "RepositoryType": "S3",
                "Location": self.ctx.presigned_url(req, f"/lamina/v1/code/{cfg.code_sha256}.zip"),
            },
        }
        tags = self.functions.tags(cfg.name)
        if tags:
            body["Tags"] = tags
        reserved = self.functions.reserved_concurrency(cfg.name)
        if reserved is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return json_response(200, body)

    def get_configuration(self, req: Request, params: dict[str, str]) -> Response:
        ref = parse_function_ref(params["FunctionName"], req.query.get("Qualifier"))
        return json_response(200, self.ctx.config(self.functions.get(ref.name, ref.qualifier)))

    async def delete(self, req: Request, params: dict[str, str]) -> Response:
        ref = parse_function_ref(params["FunctionName"], req.query.get("Qualifier"))
        await self.functions.delete(ref.name, ref.qualifier)
        return empty_response(204)

    async def update_code(self, req: Request, params: dict[str, str]) -> Response:
        check_create_size(len(req.body))
        name = _unqualified(params["FunctionName"], "UpdateFunctionCode")
        update = parse_code_update(json_body(req))
        self.functions.get(name)
        package = await self._package(update.code)
        cfg = await self.functions.update_code(name, update, package)
        return json_response(200, self.ctx.config(cfg))

    async def update_configuration(self, req: Request, params: dict[str, str]) -> Response:
        name = _unqualified(params["FunctionName"], "UpdateFunctionConfiguration")
        body = json_body(req)
        new = parse_configuration_update(body, self.functions.get(name))
        self.ctx.named_role(body)
        arns = layer_arns(body)
        if arns is not None:
            new = new.with_changes(layers=self.functions.layers.resolve(arns))
        cfg = await self.functions.update_configuration(
            name, new, optional_string(body, "RevisionId")
        )
        return json_response(200, self.ctx.config(cfg))

    def publish(self, req: Request, params: dict[str, str]) -> Response:
        name = _unqualified(params["FunctionName"], "PublishVersion")
        body = json_body(req)
        if body.get("PublishTo") is not None:
            raise InvalidParameterValue("PublishTo (LATEST_PUBLISHED) is not supported by Lamina")
        description = optional_string(body, "Description")
        if description is not None and len(description) > 256:
            raise InvalidParameterValue.constraint(
                "description", "Member must have length less than or equal to 256"
            )
        cfg = self.functions.publish(
            name,
            description=description,
            code_sha256=optional_string(body, "CodeSha256"),
            revision_id=optional_string(body, "RevisionId"),
        )
        return json_response(201, self.ctx.config(cfg))

    def list_versions(self, req: Request, params: dict[str, str]) -> Response:
        name = _unqualified(params["FunctionName"], "ListVersionsByFunction")
        q = req.query
        configs, next_marker = page(
            self.functions.versions(name),
            _version_sort_key,
            q.get("Marker") or None,
            max_items(q.get("MaxItems")),
        )
        # Every entry's ARN names its version, $LATEST included (unlike GetFunction's).
        body: dict[str, object] = {
            "Versions": [self.ctx.config(c, qualified=True) for c in configs]
        }
        if next_marker:
            body["NextMarker"] = next_marker
        return json_response(200, body)

    def code_signing_config(self, req: Request, params: dict[str, str]) -> Response:
        """Lamina has no code signing: every function answers with an empty ARN."""
        name = _unqualified(params["FunctionName"], "GetFunctionCodeSigningConfig")
        self.functions.get(name)
        return json_response(200, {"CodeSigningConfigArn": "", "FunctionName": name})
