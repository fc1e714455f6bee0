"""The ``aws-sdk:s3`` Task integration, on Lamina's embedded S3, in process.

``arn:aws:states:::aws-sdk:s3:getObject`` / ``putObject`` / ``deleteObject`` /
``listObjectsV2`` take the SDK's parameters (``Bucket``, ``Key``, ``Body``, ``Prefix``...)
and answer with the SDK's result fields. The requests go through the S3 service's own
handler as in-memory requests, so bucket notifications fire exactly as for any client.
Errors are ``S3.<Code>Exception`` (``S3.NoSuchKeyException``, ...).

:class:`S3Objects` is also what the distributed Map reads items from and writes results
to (``ItemReader``, ``ResultWriter``).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from lamina.wire.http import Request
from lamina.wire.server import Response
from lamina.workflows.steps import Err, Ok, Outcome

S3Handler = Callable[[Request], Awaitable[Response]]
PREFIX = "arn:aws:states:::aws-sdk:s3:"
_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3TaskError(Exception):
    """Raised when the embedded S3 answers an error (code and message as S3 gave them)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def outcome(self) -> Err:
        return Err(f"S3.{self.code}Exception", self.message)


class S3Objects:
    """Get, put, delete and list objects of the embedded S3 through its handler."""

    def __init__(self, handler: S3Handler) -> None:
        self.handler = handler

    async def _call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        req = Request(method, path, {"host": "localhost", **(headers or {})}, body)
        resp = await self.handler(req)
        if resp.status >= 300:
            code = _CODE.search(resp.body)
            message = _MESSAGE.search(resp.body)
            raise S3TaskError(
                code.group(1).decode() if code else f"Http{resp.status}",
                message.group(1).decode() if message else "",
            )
        return resp

    @staticmethod
    def _path(bucket: str, key: str) -> str:
        return f"/{quote(bucket)}/{quote(key, safe='/')}"

    async def get(self, bucket: str, key: str) -> tuple[bytes, dict[str, str]]:
        resp = await self._call("GET", self._path(bucket, key))
        return resp.body, {k.lower(): v for k, v in resp.headers.items()}

    async def put(self, bucket: str, key: str, body: bytes, content_type: str = "") -> str:
        headers = {"content-type": content_type} if content_type else {}
        resp = await self._call("PUT", self._path(bucket, key), body, headers)
        return next((v for k, v in resp.headers.items() if k.lower() == "etag"), "")

    async def delete(self, bucket: str, key: str) -> None:
        await self._call("DELETE", self._path(bucket, key))

    async def list(
        self, bucket: str, prefix: str = "", max_keys: int = 1000
    ) -> list[dict[str, Any]]:
        query = urlencode({"list-type": "2", "prefix": prefix, "max-keys": str(max_keys)})
        out: list[dict[str, Any]] = []
        token = ""
        while True:
            path = f"/{quote(bucket)}?{query}" + (
                f"&continuation-token={quote(token)}" if token else ""
            )
            root = ET.fromstring((await self._call("GET", path)).body)
            for item in root.iter(f"{_NS}Contents"):
                out.append({
                    "Key": item.findtext(f"{_NS}Key") or "",
                    "Size": int(item.findtext(f"{_NS}Size") or 0),
                    "ETag": item.findtext(f"{_NS}ETag") or "",
                    "LastModified": item.findtext(f"{_NS}LastModified") or "",
                })  # fmt: skip
            token = root.findtext(f"{_NS}NextContinuationToken") or ""
            if root.findtext(f"{_NS}IsTruncated") != "true" or not token:
                return out


def s3_integration(objects: S3Objects) -> Callable[[str], Callable[[Any, str], Awaitable[Outcome]]]:
    """``action`` (``getObject``...) → the integration for ``aws-sdk:s3:<action>``."""

    def for_action(action: str) -> Callable[[Any, str], Awaitable[Outcome]]:
        async def run(params: Any, mode: str) -> Outcome:
            if mode or not isinstance(params, dict) or not isinstance(params.get("Bucket"), str):
                return Err("States.Runtime", f"aws-sdk:s3:{action} needs Parameters with a Bucket")
            bucket, key = params["Bucket"], str(params.get("Key", ""))
            try:
                if action == "getObject":
                    body, headers = await objects.get(bucket, key)
                    return Ok({
                        "Body": body.decode("utf-8", "replace"),
                        "ContentLength": len(body),
                        "ContentType": headers.get("content-type", ""),
                        "ETag": headers.get("etag", ""),
                        "LastModified": headers.get("last-modified", ""),
                    })  # fmt: skip
                if action == "putObject":
                    raw = params.get("Body", "")
                    text = raw if isinstance(raw, str) else json.dumps(raw)
                    etag = await objects.put(bucket, key, text.encode(),
                                             str(params.get("ContentType") or ""))  # fmt: skip
                    return Ok({"ETag": etag})
                if action == "deleteObject":
                    await objects.delete(bucket, key)
                    return Ok({})
                if action == "listObjectsV2":
                    items = await objects.list(bucket, str(params.get("Prefix") or ""))
                    return Ok({"Contents": items, "KeyCount": len(items), "Name": bucket,
                               "Prefix": str(params.get("Prefix") or ""), "IsTruncated": False})  # fmt: skip
            except S3TaskError as exc:
                return exc.outcome()
            return Err("States.Runtime", f"Lamina does not support aws-sdk:s3:{action} yet")

        return run

    return for_action


S3_ACTIONS = ("getObject", "putObject", "deleteObject", "listObjectsV2")
