"""S3's multipart uploads: create, upload parts, complete (or abort), in ``uploads/``.

Parts are files ``<upload>/<nnnnn>.part`` beside ``upload.json`` (bucket, key, metadata);
completing checks each named part's ETag and writes the object from the parts in order,
with S3's multipart ETag (the MD5 of the parts' MD5s, ``-<count>``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from xml.sax.saxutils import escape

from lamina.errors import S3Error
from lamina.services.s3.answers import XMLNS, empty_answer, xml_answer
from lamina.services.s3.bodies import request_body
from lamina.services.s3.requests import object_metadata, parse_complete, part_number
from lamina.services.s3.store import ObjectStore
from lamina.wire.http import Request
from lamina.wire.server import Response

# stored(req, bucket, key, size, etag, event, metadata): record the object, notify.
Stored = Callable[[Request, str, str, int, str, str, dict[str, str]], Awaitable[None]]


class Multipart:
    def __init__(self, store: ObjectStore, stored: Stored) -> None:
        self.store = store
        self._stored = stored
        self._uploads = store.root / "uploads"

    async def create(self, req: Request, bucket: str, key: str) -> Response:
        upload_id = secrets.token_hex(16)
        d = self._uploads / upload_id
        d.mkdir(parents=True)
        (d / "upload.json").write_text(
            json.dumps({"bucket": bucket, "key": key, "metadata": object_metadata(req)})
        )
        return xml_answer(
            f'<InitiateMultipartUploadResult xmlns="{XMLNS}"><Bucket>{escape(bucket)}</Bucket>'
            f"<Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId>"
            "</InitiateMultipartUploadResult>"
        )

    def _upload_dir(self, upload_id: str) -> Path:
        d = self._uploads / upload_id
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id) or not d.is_dir():
            raise S3Error("NoSuchUpload", "The specified upload does not exist.", 404)
        return d

    async def upload_part(self, req: Request, bucket: str, key: str, q: dict[str, str]) -> Response:
        d = self._upload_dir(q["uploadId"])
        n = part_number(q)
        body = request_body(req.headers, req.body)
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        await asyncio.to_thread((d / f"{n:05d}.part").write_bytes, body)
        return empty_answer(200, {"ETag": f'"{etag}"'})

    async def complete(self, req: Request, bucket: str, key: str, upload_id: str) -> Response:
        d = self._upload_dir(upload_id)
        meta = json.loads((d / "upload.json").read_text())
        wanted = parse_complete(request_body(req.headers, req.body))
        paths: list[Path] = []
        digests = b""
        for num, tag in wanted:
            p = d / f"{num:05d}.part"
            if not p.exists():
                raise S3Error("InvalidPart", f"Part {num} was not uploaded", 400)
            digest = hashlib.md5(p.read_bytes(), usedforsecurity=False)
            if digest.hexdigest() != tag:
                raise S3Error("InvalidPart", f"Part {num}'s ETag does not match", 400)
            digests += digest.digest()
            paths.append(p)
        size, _ = await asyncio.to_thread(self.store.write_blob, bucket, key, paths)
        etag = f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(paths)}"
        await self._stored(
            req, bucket, key, size, etag, "ObjectCreated:CompleteMultipartUpload", meta["metadata"]
        )
        shutil.rmtree(d, ignore_errors=True)
        return xml_answer(
            f'<CompleteMultipartUploadResult xmlns="{XMLNS}"><Bucket>{escape(bucket)}</Bucket>'
            f"<Key>{escape(key)}</Key><ETag>&quot;{etag}&quot;</ETag>"
            "</CompleteMultipartUploadResult>"
        )

    def abort(self, upload_id: str) -> Response:
        shutil.rmtree(self._upload_dir(upload_id), ignore_errors=True)
        return empty_answer(204)
