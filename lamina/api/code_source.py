"""Where a package's bytes come from: inline (``ZipFile``) or the code bucket folder.

``S3Bucket``/``S3Key`` name the file ``<buckets_dir>/<bucket>/<key>`` (Settings
``code_bucket_dir``, default ``<data_dir>/buckets``): drop a zip there, or let a tool that
writes S3-style folders put it there, and CreateFunction/UpdateFunctionCode read it. The
errors are the ones Lambda gives when S3 has no such bucket or key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from lamina.errors import InvalidParameterValue
from lamina.models.requests import CodeRef

_BUCKET = re.compile(r"^[0-9A-Za-z.\-_]{3,63}(?<!\.)$")


def _s3_error(code: str, message: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
    )


def object_path(buckets_dir: Path, bucket: str, key: str) -> Path:
    """The file an (S3Bucket, S3Key) pair names; never a path outside the bucket."""
    if not _BUCKET.match(bucket):
        raise InvalidParameterValue.constraint(
            "code.s3Bucket",
            "Member must satisfy regular expression pattern: [0-9A-Za-z\\.\\-_]*(?<!\\.)",
            bucket,
        )
    parts = key.split("/")
    if not 1 <= len(key) <= 1024 or "\0" in key or any(p in ("", ".", "..") for p in parts):
        raise _s3_error("NoSuchKey", "The specified key does not exist.")
    root = buckets_dir / bucket
    path = root.joinpath(*parts)
    if not root.is_dir():
        raise _s3_error("NoSuchBucket", "The specified bucket does not exist")
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except OSError:
        inside = False
    if not inside or not path.is_file():
        raise _s3_error("NoSuchKey", "The specified key does not exist.")
    return path


def read_code(
    ref: CodeRef, buckets_dir: Path, s3_blob: Callable[[str, str], Path] | None = None
) -> bytes:
    """The package's bytes (the code store checks and limits them when storing).

    An object uploaded to Lamina's embedded S3 (``aws s3 cp``) is found first; then the
    bucket folder.
    """
    if ref.zip_file is not None:
        return ref.zip_file
    assert ref.s3_bucket is not None and ref.s3_key is not None
    if s3_blob is not None and _BUCKET.match(ref.s3_bucket):
        blob = s3_blob(ref.s3_bucket, ref.s3_key)
        if blob.is_file():
            return blob.read_bytes()
    path = object_path(buckets_dir, ref.s3_bucket, ref.s3_key)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _s3_error("AccessDenied", f"Lamina cannot read the object: {exc}") from exc
