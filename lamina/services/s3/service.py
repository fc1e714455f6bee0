"""The S3-compatible endpoint (path-style): buckets, objects, multipart, notifications.

Requests are ``/<bucket>[/<key>]`` with S3's sub-resources in the query (``?uploads``,
``?notification``, ``?list-type=2``, ``?delete``). Answers are S3's XML. Enough of S3 for
``boto3.client("s3")`` and ``aws s3 cp/ls/rm`` with path-style addressing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import shutil
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from lamina.errors import S3Error
from lamina.services.protocol.errors import Protocol, Wire, answering, s3_request_id
from lamina.services.protocol.rawresponse import RawResponse
from lamina.services.s3.bodies import request_body
from lamina.services.s3.listing import XMLNS, iso, list_objects
from lamina.services.s3.notifications import (
    NotificationSink,
    Route,
    parse_configuration,
    render_configuration,
    s3_record,
)
from lamina.services.s3.requests import (
    byte_range,
    copy_source,
    parse_complete,
    parse_delete,
    parse_list_objects,
    parse_request,
    part_number,
    principal,
)
from lamina.services.s3.store import ObjectInfo, ObjectStore
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_STORED_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "cache-control",
    "content-language",
    "expires",
)
PROTOCOL = Protocol(Wire.REST_XML)
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"


def _xml(body: str, status: int = 200) -> Response:
    data = f'<?xml version="1.0" encoding="UTF-8"?>{body}'.encode()
    return Response(
        status, data, {"Content-Type": "application/xml", "x-amz-request-id": s3_request_id()}
    )


def _no_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404, f"/{bucket}")


class S3Service:
    def __init__(
        self,
        store: ObjectStore,
        notifier: NotificationSink,
        region: str,
        account: str,
        max_object_bytes: int = 5 * 1024**3,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.region = region
        self.account = account
        self.max_object_bytes = max_object_bytes
        self._routes: dict[str, list[Route]] = {}
        self._uploads = store.root / "uploads"

    # -- entry point --------------------------------------------------------------------
    async def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return await answering(PROTOCOL, self._route(req), head=req.method == "HEAD")

    async def _route(self, req: Request) -> Response:
        s3 = parse_request(req)
        m, bucket, key, query = s3.method, s3.bucket, s3.key, s3.query
        if not bucket:
            if m == "GET":
                return await self._list_buckets()
            raise S3Error("MethodNotAllowed", "The specified method is not allowed", 405)
        if not key:
            return await self._bucket_op(req, m, bucket, query)
        if not await self.store.bucket_exists(bucket):
            raise _no_bucket(bucket)
        if m == "PUT" and "uploadId" in query:
            return await self._upload_part(req, bucket, key, query)
        if m == "POST" and "uploads" in query:
            return await self._create_upload(req, bucket, key)
        if m == "POST" and "uploadId" in query:
            return await self._complete_upload(req, bucket, key, query["uploadId"])
        if m == "DELETE" and "uploadId" in query:
            return self._abort_upload(query["uploadId"])
        if m == "PUT":
            if "x-amz-copy-source" in req.headers:
                return await self._copy(req, bucket, key)
            return await self._put(req, bucket, key)
        if m in ("GET", "HEAD"):
            return await self._get(req, bucket, key, head=m == "HEAD")
        if m == "DELETE":
            return await self._delete(req, bucket, key)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed", 405)

    # -- buckets ------------------------------------------------------------------------
    async def _list_buckets(self) -> Response:
        items = "".join(
            f"<Bucket><Name>{escape(n)}</Name><CreationDate>{iso(c)}</CreationDate></Bucket>"
            for n, c in await self.store.list_buckets()
        )
        return _xml(
            f'<ListAllMyBucketsResult xmlns="{XMLNS}"><Owner><ID>{OWNER_ID}</ID>'
            f"<DisplayName>lamina</DisplayName></Owner><Buckets>{items}</Buckets>"
            "</ListAllMyBucketsResult>"
        )

    async def _bucket_op(
        self, req: Request, m: str, bucket: str, query: dict[str, str]
    ) -> Response:
        if m == "PUT" and "notification" not in query:
            if not _BUCKET.match(bucket) or ".." in bucket:
                raise S3Error("InvalidBucketName", "The specified bucket is not valid.", 400)
            if not await self.store.create_bucket(bucket):
                raise S3Error(
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you "
                    "already own it.",
                    409,
                    f"/{bucket}",
                )
            return Response(
                200, b"", {"Location": f"/{bucket}", "x-amz-request-id": s3_request_id()}
            )
        exists = await self.store.bucket_exists(bucket)
        if not exists:
            raise _no_bucket(bucket)
        if m == "HEAD":
            return Response(200, b"", {"x-amz-bucket-region": self.region})
        if m == "DELETE":
            result = await self.store.delete_bucket(bucket)
            if result == "not-empty":
                raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", 409)
            self._routes.pop(bucket, None)
            return Response(204, b"", {"x-amz-request-id": s3_request_id()})
        if "notification" in query:
            if m == "PUT":
                routes = parse_configuration(request_body(req.headers, req.body))
                await self.store.set_notifications(bucket, render_configuration(routes).decode())
                self._routes[bucket] = routes
                return Response(200, b"", {"x-amz-request-id": s3_request_id()})
            if m == "GET":
                return _xml(
                    render_configuration(await self._bucket_routes(bucket))
                    .decode()
                    .removeprefix('<?xml version="1.0" encoding="UTF-8"?>')
                )
        if m == "GET" and "location" in query:
            return _xml(f'<LocationConstraint xmlns="{XMLNS}">{self.region}</LocationConstraint>')
        if m == "POST" and "delete" in query:
            return await self._delete_many(req, bucket)
        if m == "GET":
            listing = await list_objects(self.store, bucket, parse_list_objects(query))
            return _xml(listing)
        raise S3Error("NotImplemented", "A header or query you provided is not implemented", 501)

    async def _bucket_routes(self, bucket: str) -> list[Route]:
        if bucket not in self._routes:
            raw = await self.store.get_notifications(bucket)
            self._routes[bucket] = parse_configuration(raw.encode()) if raw else []
        return self._routes[bucket]

    # -- objects ------------------------------------------------------------------------
    def _metadata(self, req: Request) -> dict[str, str]:
        return {
            k: v
            for k, v in req.headers.items()
            if k.startswith("x-amz-meta-") or k in _STORED_HEADERS
        }

    async def _put(self, req: Request, bucket: str, key: str) -> Response:
        body = request_body(req.headers, req.body)
        md5_header = req.headers.get("content-md5")
        if md5_header and (
            base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
            != md5_header
        ):
            raise S3Error(
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
                400,
            )
        size, etag = await asyncio.to_thread(self.store.write_blob, bucket, key, [body])
        await self._stored(req, bucket, key, size, etag, "ObjectCreated:Put")
        return Response(200, b"", {"ETag": f'"{etag}"', "x-amz-request-id": s3_request_id()})

    async def _stored(
        self,
        req: Request,
        bucket: str,
        key: str,
        size: int,
        etag: str,
        event: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        meta = metadata if metadata is not None else self._metadata(req)
        info = ObjectInfo(
            bucket,
            key,
            size,
            etag,
            meta.get("content-type", "binary/octet-stream"),
            time.time(),
            meta,
        )
        await self.store.put_info(info)
        await self._notify(req, bucket, key, event, size, etag)

    async def _notify(
        self, req: Request, bucket: str, key: str, event: str, size: int | None, etag: str | None
    ) -> None:
        routes = await self._bucket_routes(bucket)
        if not routes:
            return
        sequencer = await self.store.next_sequencer()
        by = principal(req)
        rid = s3_request_id()

        def record(configuration_id: str) -> dict[str, Any]:
            return s3_record(
                event_name=event,
                bucket=bucket,
                key=key,
                size=size,
                etag=etag,
                sequencer=sequencer,
                configuration_id=configuration_id,
                region=self.region,
                principal=by,
                source_ip=req.headers.get("x-forwarded-for", "127.0.0.1"),
                request_id=rid,
                when=time.time(),
            )

        await self.notifier.notify(routes, event, key, record)

    async def _get(self, req: Request, bucket: str, key: str, head: bool) -> Response:
        info = await self.store.head(bucket, key)
        if info is None:
            raise S3Error("NoSuchKey", "The specified key does not exist.", 404, f"/{bucket}/{key}")
        headers = {
            "ETag": f'"{info.etag}"',
            "Last-Modified": formatdate(info.last_modified, usegmt=True),
            "Content-Type": info.content_type,
            "Accept-Ranges": "bytes",
            "x-amz-request-id": s3_request_id(),
        }
        headers.update({k: v for k, v in info.metadata.items() if k != "content-type"})
        start, end = 0, info.size - 1
        status = 200
        rng = req.headers.get("range")
        if rng:
            start, end = byte_range(rng, info.size)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
        length = max(0, end - start + 1)
        if head:
            return RawResponse(status, b"", headers, content_length=length)
        path = self.store.blob_path(bucket, key)

        def read() -> bytes:
            with open(path, "rb") as f:
                f.seek(start)
                return f.read(length)

        data = await asyncio.to_thread(read)
        return Response(status, data, headers)

    async def _delete(self, req: Request, bucket: str, key: str) -> Response:
        if await self.store.delete(bucket, key):
            await self._notify(req, bucket, key, "ObjectRemoved:Delete", None, None)
        return Response(204, b"", {"x-amz-request-id": s3_request_id()})

    async def _delete_many(self, req: Request, bucket: str) -> Response:
        quiet, keys = parse_delete(request_body(req.headers, req.body))
        deleted = []
        for k in keys:
            if await self.store.delete(bucket, k):
                await self._notify(req, bucket, k, "ObjectRemoved:Delete", None, None)
            deleted.append(k)
        items = (
            "" if quiet else "".join(f"<Deleted><Key>{escape(k)}</Key></Deleted>" for k in deleted)
        )
        return _xml(f'<DeleteResult xmlns="{XMLNS}">{items}</DeleteResult>')

    async def _copy(self, req: Request, bucket: str, key: str) -> Response:
        src_bucket, src_key, source = copy_source(req.headers)
        info = await self.store.head(src_bucket, src_key)
        if info is None:
            raise S3Error("NoSuchKey", "The specified key does not exist.", 404, f"/{source}")
        src_path = self.store.blob_path(src_bucket, src_key)
        size, etag = await asyncio.to_thread(self.store.write_blob, bucket, key, [src_path])
        replace = req.headers.get("x-amz-metadata-directive", "COPY") == "REPLACE"
        await self._stored(
            req,
            bucket,
            key,
            size,
            etag,
            "ObjectCreated:Copy",
            self._metadata(req) if replace else info.metadata,
        )
        return _xml(
            f'<CopyObjectResult xmlns="{XMLNS}"><LastModified>{iso(time.time())}</LastModified>'
            f"<ETag>&quot;{etag}&quot;</ETag></CopyObjectResult>"
        )

    # -- multipart uploads -----------------------------------------------------------------
    async def _create_upload(self, req: Request, bucket: str, key: str) -> Response:
        upload_id = secrets.token_hex(16)
        d = self._uploads / upload_id
        d.mkdir(parents=True)
        (d / "upload.json").write_text(
            json.dumps({"bucket": bucket, "key": key, "metadata": self._metadata(req)})
        )
        return _xml(
            f'<InitiateMultipartUploadResult xmlns="{XMLNS}"><Bucket>{escape(bucket)}</Bucket>'
            f"<Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId>"
            "</InitiateMultipartUploadResult>"
        )

    def _upload_dir(self, upload_id: str) -> Path:
        d = self._uploads / upload_id
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id) or not d.is_dir():
            raise S3Error("NoSuchUpload", "The specified upload does not exist.", 404)
        return d

    async def _upload_part(
        self, req: Request, bucket: str, key: str, q: dict[str, str]
    ) -> Response:
        d = self._upload_dir(q["uploadId"])
        n = part_number(q)
        body = request_body(req.headers, req.body)
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        await asyncio.to_thread((d / f"{n:05d}.part").write_bytes, body)
        return Response(200, b"", {"ETag": f'"{etag}"', "x-amz-request-id": s3_request_id()})

    async def _complete_upload(
        self, req: Request, bucket: str, key: str, upload_id: str
    ) -> Response:
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
        return _xml(
            f'<CompleteMultipartUploadResult xmlns="{XMLNS}"><Bucket>{escape(bucket)}</Bucket>'
            f"<Key>{escape(key)}</Key><ETag>&quot;{etag}&quot;</ETag>"
            "</CompleteMultipartUploadResult>"
        )

    def _abort_upload(self, upload_id: str) -> Response:
        shutil.rmtree(self._upload_dir(upload_id), ignore_errors=True)
        return Response(204, b"", {"x-amz-request-id": s3_request_id()})
