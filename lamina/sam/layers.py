"""The template's layers: built, published to Lamina when they changed, ARNs swapped in.

CloudFormation publishes a new layer version whenever a LayerVersion's content or
properties change, and Ref answers that version's ARN. ``lamina up`` does the same
without state: the newest version of the layer name is reused when its CodeSha256,
description, runtimes, architectures and licence are what the template asks for; else a
new version is published. Old versions are kept (SAM's default ``RetentionPolicy:
Retain``), so functions of other stacks that use them keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lamina.client.boto import BotoClients
from lamina.sam.builds.builder import build_layer
from lamina.sam.builds.deps import Toolchain
from lamina.sam.builds.package import Package
from lamina.sam.errors import BuildError
from lamina.sam.model import LayerSpec, StackSpec
from lamina.sam.observe import describe_error


@dataclass
class PublishedLayers:
    arns: dict[str, str] = field(default_factory=dict)  # logical id → version ARN
    published: list[str] = field(default_factory=list)  # logical ids of new versions
    errors: dict[str, str] = field(default_factory=dict)  # logical id → why it failed
    # Functions that cannot be deployed because a layer of theirs failed, and why.
    function_errors: dict[str, str] = field(default_factory=dict)


def _same(layer: LayerSpec, package: Package, newest: dict[str, Any]) -> bool:
    return (
        newest.get("CodeSha256") == package.sha256
        and (newest.get("Description") or "") == layer.description
        and sorted(newest.get("CompatibleRuntimes") or []) == sorted(layer.compatible_runtimes)
        and sorted(newest.get("CompatibleArchitectures") or [])
        == sorted(layer.compatible_architectures)
        and (newest.get("LicenseInfo") or "") == layer.license_info
    )


def publish_layer(clients: BotoClients, layer: LayerSpec, package: Package) -> tuple[str, bool]:
    """The version ARN of ``layer`` with ``package`` as content, and whether it is new."""
    lam = clients("lambda")
    versions = lam.list_layer_versions(LayerName=layer.name).get("LayerVersions") or []
    if versions:
        newest = lam.get_layer_version_by_arn(Arn=versions[0]["LayerVersionArn"])
        if _same(layer, package, {**newest, "CodeSha256": newest["Content"]["CodeSha256"]}):
            return str(newest["LayerVersionArn"]), False
    args: dict[str, Any] = {"LayerName": layer.name, "Content": {"ZipFile": package.data}}
    if layer.description:
        args["Description"] = layer.description
    if layer.compatible_runtimes:
        args["CompatibleRuntimes"] = list(layer.compatible_runtimes)
    if layer.compatible_architectures:
        args["CompatibleArchitectures"] = list(layer.compatible_architectures)
    if layer.license_info:
        args["LicenseInfo"] = layer.license_info
    return str(lam.publish_layer_version(**args)["LayerVersionArn"]), True


def publish_layers(
    clients: BotoClients,
    spec: StackSpec,
    tools: Toolchain,
    progress: Callable[[str], None] = lambda line: None,
) -> PublishedLayers:
    """Build and publish every layer of ``spec``; point its functions at the versions.

    A function whose layer failed to build or publish is listed in ``function_errors``;
    the caller leaves it as it is on the server, as a function whose own build failed.
    """
    out = PublishedLayers()
    for lid, layer in spec.layers.items():
        try:
            package = build_layer(layer, tools)
            arn, new = publish_layer(clients, layer, package)
        except (BuildError, OSError) as exc:
            out.errors[lid] = str(exc)
        except (BotoCoreError, ClientError) as exc:
            out.errors[lid] = describe_error(exc)
        else:
            out.arns[lid] = arn
            if new:
                out.published.append(lid)
                progress(f"publish layer {layer.name} → {arn}")
            continue
        progress(f"layer failed: {lid}: {out.errors[lid]}")
    for lid, layer in spec.layers.items():
        if lid in out.arns:
            spec.layers[lid] = replace(layer, arn=out.arns[lid])
    for fid, fn in list(spec.functions.items()):
        broken = [layer.logical_id for layer in fn.layers if layer.logical_id in out.errors]
        if broken:
            out.function_errors[fid] = "; ".join(f"layer {b}: {out.errors[b]}" for b in broken)
        else:
            # Layers named by ARN (not in the template) stay as they are.
            layers = tuple(spec.layers.get(layer.logical_id, layer) for layer in fn.layers)
            spec.functions[fid] = replace(fn, layers=layers)
    return out
