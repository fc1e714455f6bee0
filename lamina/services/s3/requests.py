"""S3 requests: which are S3's on the shared port, and what they ask, as typed values (pure).

The only code that reads a request's path, sub-resources, S3 headers and XML bodies; the
service (:mod:`lamina.services.s3.service`) works on what these return.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from lamina.errors import S3Error
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.sigv4 import access_key, signed_service
from lamina.wire.http import Request

_LAMBDA_PATH = re.compile(r"^/(20\d\d-\d\d-\d\d|lamina)(/|$)")

# What is_s3_request can pick (lamina.services.protocol.reach).
REACH = Reach(signed_for=frozenset({"s3"}), unsigned_headers=("x-amz-content-sha256",))


def is_s3_request(req: Request) -> bool:
    """S3 requests on the shared port: signed for ``s3``, or unsigned path-style ones that
    carry S3's payload header and are not Lambda API paths."""
    service = signed_service(req)
    if service is not None:
        return service == "s3"
    return "x-amz-content-sha256" in req.headers and not _LAMBDA_PATH.match(req.path)


@dataclass(frozen=True, slots=True)
class S3Request:
    """A path-style request: ``/<bucket>[/<key>]?<sub-resources>``, decoded."""

    method: str
    bucket: str  # "" for the service itself (ListBuckets)
    key: str  # "" for the bucket itself
    query: dict[str, str]


def parse_request(req: Request) -> S3Request:
    parts = req.path.lstrip("/").split("/", 1)
    bucket = unquote(parts[0])
    key = unquote(parts[1]) if len(parts) > 1 else ""
    query = dict(parse_qsl(req.target.partition("?")[2], keep_blank_values=True))
    return S3Request(req.method, bucket, key, query)


# Headers stored with an object and answered with it (besides x-amz-meta-*).
STORED_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "cache-control",
    "content-language",
    "expires",
)


def object_metadata(req: Request) -> dict[str, str]:
    """What a PUT or CreateMultipartUpload stores with the object: ``x-amz-meta-*`` and the
    content headers."""
    return {
        k: v for k, v in req.headers.items() if k.startswith("x-amz-meta-") or k in STORED_HEADERS
    }


def principal(req: Request) -> str:
    """The principal S3 names in event records: ``AWS:<access key>``."""
    key = access_key(req)
    return f"AWS:{key}" if key else "AWS:anonymous"


@dataclass(frozen=True, slots=True)
class ListObjects:
    """ListObjects (v1: ``marker``) or ListObjectsV2 (``list-type=2``: tokens)."""

    v2: bool
    prefix: str
    delimiter: str
    max_keys: int  # 0-1000
    url_encoded: bool  # encoding-type=url
    after: str  # list keys after this one (marker, start-after, or the token's key)
    continuation_token: str | None
    start_after: str | None


def parse_list_objects(query: dict[str, str]) -> ListObjects:
    v2 = query.get("list-type") == "2"
    try:
        max_keys = int(query.get("max-keys", "1000"))
    except ValueError:
        raise S3Error("InvalidArgument", "max-keys must be an integer", 400) from None
    token = query.get("continuation-token") if v2 else None
    if token:
        try:
            after = bytes.fromhex(token).decode()
        except ValueError:
            raise S3Error(
                "InvalidArgument", "The continuation token provided is incorrect", 400
            ) from None
    elif v2:
        after = query.get("start-after", "")
    else:
        after = query.get("marker", "")
    return ListObjects(
        v2,
        query.get("prefix", ""),
        query.get("delimiter", ""),
        max(0, min(max_keys, 1000)),
        query.get("encoding-type") == "url",
        after,
        token or None,
        query.get("start-after") if v2 else None,
    )


def part_number(query: dict[str, str]) -> int:
    try:
        n = int(query.get("partNumber", ""))
    except ValueError:
        raise S3Error("InvalidArgument", "partNumber must be 1-10000", 400) from None
    if not 1 <= n <= 10_000:
        raise S3Error("InvalidArgument", "partNumber must be 1-10000", 400)
    return n


def copy_source(headers: dict[str, str]) -> tuple[str, str, str]:
    """``x-amz-copy-source``: ``[/]<bucket>/<key>[?versionId=...]`` → (bucket, key, the
    source as written, which S3 names as the resource when it is missing)."""
    source = unquote(headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/")
    bucket, _, key = source.partition("/")
    return bucket, key, source


def byte_range(header: str, size: int) -> tuple[int, int]:
    """``Range: bytes=a-b`` (or ``a-``, ``-n``) of an object of ``size`` bytes, inclusive."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise S3Error("InvalidRange", "The requested range is not satisfiable", 416)
    if not m.group(1):
        n = int(m.group(2))
        start, end = max(0, size - n), size - 1
    else:
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    if start >= size or start > end:
        raise S3Error("InvalidRange", "The requested range is not satisfiable", 416)
    return start, end


def _xml_document(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed", 400) from None


def parse_delete(body: bytes) -> tuple[bool, list[str]]:
    """DeleteObjects' ``<Delete>``: (quiet, the keys to delete)."""
    root = _xml_document(body)
    quiet = any((el.text or "").strip() == "true" for el in root.iter() if el.tag.endswith("Quiet"))
    keys = [
        next((c.text or "" for c in obj if c.tag.endswith("Key")), "")
        for obj in root.iter()
        if obj.tag.endswith("Object")
    ]
    return quiet, keys


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """CompleteMultipartUpload's parts: (part number, ETag without quotes), in order."""
    root = _xml_document(body)
    wanted: list[tuple[int, str]] = []
    for part in root.iter():
        if part.tag.endswith("Part") and not part.tag.endswith("CompleteMultipartUpload"):
            number = next((c.text for c in part if c.tag.endswith("PartNumber")), None)
            tag = next((c.text for c in part if c.tag.endswith("ETag")), "") or ""
            if number is not None:
                if not number.strip().isdigit():
                    raise S3Error("InvalidArgument", "PartNumber must be an integer", 400)
                wanted.append((int(number), tag.strip('"')))
    return wanted
