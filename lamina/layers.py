"""Layers: publish, read and delete layer versions; resolve a function's ``Layers``.

Archives go into the code store like function packages (content-addressed: publishing
the same zip twice stores it once); what Lambda shows about each version is kept in the
:class:`~lamina.store.layers.LayerStore`. A function's ``Layers`` are resolved here into
:class:`FunctionLayer` values that carry each archive's digest, so the function keeps
running on them even after a version is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.arns import layer_arn, layer_version_arn, parse_layer_version_arn
from lamina.errors import InvalidParameterValue, ResourceNotFound
from lamina.models.layer import (
    MAX_LAYERS,
    FunctionLayer,
    LayerPermission,
    LayerVersion,
    PublishRequest,
)
from lamina.store.code import CodeStore
from lamina.store.layers import LayerStore
from lamina.store.stamps import new_revision_id, now_lambda_timestamp
from lamina.store.zipcheck import MAX_UNZIPPED_BYTES


class Layers:
    """Layer versions of one Lamina (one region and account)."""

    def __init__(self, store: LayerStore, code: CodeStore, region: str, account: str) -> None:
        self.store = store
        self.code = code
        self.region = region
        self.account = account

    def arn(self, name: str) -> str:
        return layer_arn(self.region, self.account, name)

    def version_arn(self, layer: LayerVersion) -> str:
        return layer_version_arn(self.region, self.account, layer.name, layer.version)

    # -- versions ------------------------------------------------------------------------------
    def publish(self, name: str, request: PublishRequest, package: bytes) -> LayerVersion:
        stored = self.code.put_zip(package, operation="PublishLayerVersion")
        return self.store.publish(
            LayerVersion(
                name=name,
                version=0,
                code_sha256=stored.sha256_hex,
                code_size=stored.size,
                unzipped_size=self.code.unzipped_size(stored.sha256_hex),
                created_date=now_lambda_timestamp(),
                description=request.description,
                compatible_runtimes=request.compatible_runtimes,
                compatible_architectures=request.compatible_architectures,
                license_info=request.license_info,
            )
        )

    def get(self, name: str, version: int) -> LayerVersion:
        found = self.store.get(name, version)
        if found is None:
            raise ResourceNotFound("The resource you requested does not exist.")
        return found

    def versions(self, name: str) -> list[LayerVersion]:
        return self.store.versions(name)

    def latest_of_each(
        self, runtime: str | None = None, architecture: str | None = None
    ) -> list[LayerVersion]:
        """Each layer's newest version that matches the filters (ListLayers), by name."""
        out: dict[str, LayerVersion] = {}
        for layer in self.store.all_versions():
            if layer.name not in out and layer.matches(runtime, architecture):
                out[layer.name] = layer
        return list(out.values())

    def delete(self, name: str, version: int) -> None:
        """Lambda answers 204 whether or not the version existed."""
        self.store.delete(name, version)

    def packages(self) -> set[str]:
        """The code-store digests of every stored layer version (kept when code is collected)."""
        return {layer.code_sha256 for layer in self.store.all_versions()}

    # -- permissions ---------------------------------------------------------------------------
    def add_permission(
        self, name: str, version: int, permission: LayerPermission, revision_id: str | None
    ) -> tuple[LayerPermission, str]:
        self.get(name, version)
        revision = new_revision_id()
        self.store.add_permission(name, version, permission, revision, revision_id)
        return permission, revision

    def policy(self, name: str, version: int) -> tuple[list[LayerPermission], str]:
        self.get(name, version)
        statements, revision = self.store.permissions(name, version)
        if not statements:
            raise ResourceNotFound("No policy is associated with the given resource.")
        return statements, revision

    def remove_permission(
        self, name: str, version: int, statement_id: str, revision_id: str | None
    ) -> None:
        self.get(name, version)
        self.store.remove_permission(name, version, statement_id, new_revision_id(), revision_id)

    # -- functions' Layers ---------------------------------------------------------------------
    def resolve(self, arns: Sequence[str]) -> tuple[FunctionLayer, ...]:
        """A function's ``Layers`` (version ARNs, in order), checked as Lambda checks them."""
        if len(arns) > MAX_LAYERS:
            raise InvalidParameterValue(f"Cannot reference more than {MAX_LAYERS} layers.")
        seen: dict[str, str] = {}
        out: list[FunctionLayer] = []
        for raw in arns:
            ref = parse_layer_version_arn(raw, "layers")
            assert ref.version is not None
            if ref.name in seen:
                raise InvalidParameterValue(
                    "Two different versions of the same layer are not allowed to be referenced "
                    f"in the same function. {seen[ref.name]} and {raw} are versions of the "
                    "same layer."
                    if seen[ref.name] != raw
                    else f"Duplicate layers are not allowed: {raw}"
                )
            seen[ref.name] = raw
            found = None
            if (ref.region, ref.account) == (self.region, self.account):
                found = self.store.get(ref.name, ref.version)
            if found is None:
                raise InvalidParameterValue(f"Layer version {raw} does not exist.")
            out.append(found.as_function_layer(self.version_arn(found)))
        return tuple(out)


def check_total_size(code_unzipped: int, layers: Sequence[FunctionLayer]) -> None:
    """Lambda's 250 MB limit on the unzipped function code and its layers together."""
    total = code_unzipped + sum(layer.unzipped_size for layer in layers)
    if total > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValue(
            "Function code combined with layers exceeds the maximum allowed size of "
            f"{MAX_UNZIPPED_BYTES} bytes. The actual size is {total} bytes."
        )
