"""The S3 artifacts a packaged template names, and the template rewritten to local copies (pure).

``sam deploy`` (and ``aws cloudformation package``) upload each function's built code as a zip
and rewrite the template to point at it: ``CodeUri: s3://<bucket>/<prefix>/<md5>``. The server
downloads those objects from its own S3 and deploys them as they are (no rebuild): the
template :mod:`lamina.sam` reads is this one with each reference turned into the path of the
downloaded file, relative to the template.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

from lamina.services.cloudformation.model import StackValidationError

# Resource type → (property, how it is written) of code Lamina deploys from S3.
_CODE = {
    "AWS::Serverless::Function": ("CodeUri", "Bucket", "Key"),
    "AWS::Lambda::Function": ("Code", "S3Bucket", "S3Key"),
    "AWS::Serverless::LayerVersion": ("ContentUri", "Bucket", "Key"),
    "AWS::Lambda::LayerVersion": ("Content", "S3Bucket", "S3Key"),
    "AWS::Serverless::StateMachine": ("DefinitionUri", "Bucket", "Key"),
}
MAX_ARTIFACTS = 200  # objects one template may name


@dataclass(frozen=True, slots=True)
class Artifact:
    bucket: str
    key: str
    suffix: str = ".zip"  # a state machine's definition: ".asl"

    @property
    def local(self) -> str:
        """The downloaded copy's path, relative to the template."""
        digest = hashlib.sha256(f"{self.bucket}/{self.key}".encode()).hexdigest()[:24]
        return f"artifacts/{digest}{self.suffix}"


def _reference(value: Any, bucket_key: str, key_key: str, suffix: str) -> Artifact | None:
    if isinstance(value, str) and value.startswith("s3://"):
        bucket, _, key = value[len("s3://") :].partition("/")
        if bucket and key:
            return Artifact(bucket, key, suffix)
        raise StackValidationError(f"{value} is not an S3 URI of an object (s3://bucket/key)")
    if isinstance(value, dict) and isinstance(value.get(bucket_key), str):
        found = value.get(key_key)
        if isinstance(found, str) and found:
            return Artifact(str(value[bucket_key]), found, suffix)
    return None


def localise(template: dict[str, Any]) -> tuple[dict[str, Any], list[Artifact]]:
    """A copy of ``template`` whose S3 code references are local paths, and what to fetch.

    A function whose code is still a local path (an unpackaged template) cannot be deployed
    by the server: that is a ValidationError naming it."""
    out = copy.deepcopy(template)
    wanted: list[Artifact] = []
    resources = out.get("Resources")
    for lid, body in (resources if isinstance(resources, dict) else {}).items():
        if not isinstance(body, dict):
            continue
        found = _CODE.get(str(body.get("Type")))
        props = body.get("Properties")
        if found is None or not isinstance(props, dict):
            continue
        prop, bucket_key, key_key = found
        value = props.get(prop)
        suffix = ".asl" if prop == "DefinitionUri" else ".zip"
        artifact = _reference(value, bucket_key, key_key, suffix)
        if artifact is not None:
            props[prop] = artifact.local
            wanted.append(artifact)
        elif isinstance(value, str) and prop in ("CodeUri", "ContentUri"):
            raise StackValidationError(
                f"{lid}.{prop} {value!r} is a local path: package the template first "
                "(sam deploy does; or aws cloudformation package), so the code is in S3"
            )
        if isinstance(body.get("Metadata"), dict):
            body["Metadata"].pop("BuildMethod", None)  # already built: deployed as it is
    if len(set(wanted)) > MAX_ARTIFACTS:
        raise StackValidationError(f"a template may name at most {MAX_ARTIFACTS} S3 artifacts")
    return out, wanted
