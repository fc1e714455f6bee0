"""The MD5 digests SQS returns, computed exactly as SQS computes them (clients check them)."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Mapping
from typing import Any


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def _encoded(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """SQS's digest: per attribute, sorted by name, the length-prefixed name and data type,
    a transport byte (1 string, 2 binary), then the length-prefixed value."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type = str(value["DataType"])
        digest.update(_encoded(name.encode()))
        digest.update(_encoded(data_type.encode()))
        if data_type.startswith("Binary"):
            digest.update(b"\x02")
            raw = value.get("BinaryValue", b"")
            digest.update(_encoded(raw if isinstance(raw, bytes) else base64.b64decode(raw)))
        else:
            digest.update(b"\x01")
            digest.update(_encoded(str(value.get("StringValue", "")).encode()))
    return digest.hexdigest()
