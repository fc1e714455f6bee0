"""The S3-compatible endpoint (path-style): buckets, objects, multipart, notifications.

Requests are ``/<bucket>[/<key>]`` with S3's sub-resources in the query (``?uploads``,
``?notification``, ``?list-type=2``, ``?delete``). Answers are S3's XML. Enough of S3 for
``boto3.client("s3")`` and ``aws s3 cp/ls/rm`` with path-style addressing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from xml.sax.saxutils import escape

from lamina.errors import S3Error
from lamina.services.protocol.errors import Protocol, Wire, answering, s3_request_id
from lamina.services.protocol.rawresponse import RawResponse
from lamina.services.protocol.routing import Mount
from lamina.services.s3.answers import XMLNS, empty_answer, iso, xml_answer
from lamina.services.s3.bodies import request_body
from lamina.services.s3.listing import list_objects
from lamina.services.s3.multipart import Multipart
from lamina.services.s3.notifications import (
    NotificationRoute,
    NotificationSink,
    parse_configuration,
    render_configuration,
    s3_record,
)
from lamina.services.s3.requests import (
    REACH,
    byte_range,
    copy_source,
    is_s3_request,
    object_metadata,
    parse_delete,
    parse_list_objects,
    parse_request,
    principal,
)
from lamina.services.s3.store import ObjectInfo, ObjectStore
from lamina.services.s3.subresources import (
    DEFAULT_MIN_SIZE,
    DELETABLE_DEFAULTS,
    EMPTY_LISTS,
    MIN_SIZE_HEADER,
    acl_document,
    answer_for,
    check_document,
    empty_list,
    subresource_of,
    tagging_document,
)
from lamina.tracing import continued
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PROTOCOL = Protocol(Wire.REST_XML)
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"


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
        self._routes: dict[str, list[NotificationRoute]] = {}
        self.multipart = Multipart(store, self._stored)
        # Told a bucket's policy (bucket ARN, JSON or None) whenever it changes, so the
        # authoriser holds every bucket policy in memory (IAM's resource policies).
        self.on_policy: Callable[[str, str | None], None] | None = None

    # -- entry point --------------------------------------------------------------------
    def mount(self) -> Mount:
        """S3's face on the shared port (after the others: its selector is the widest),
        verified as ``s3`` with S3's payload-hash rules."""
        return Mount(is_s3_request, self.handle, "s3", PROTOCOL, REACH)

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
        if "tagging" in query:
            return await self._object_tagging(req, m, bucket, key)
        if m == "PUT" and "uploadId" in query:
            return await self.multipart.upload_part(req, bucket, key, query)
        if m == "POST" and "uploads" in query:
            return await self.multipart.create(req, bucket, key)
        if m == "POST" and "uploadId" in query:
            return await self.multipart.complete(req, bucket, key, query["uploadId"])
        if m == "DELETE" and "uploadId" in query:
            return self.multipart.abort(query["uploadId"])
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
        return xml_answer(
            f'<ListAllMyBucketsResult xmlns="{XMLNS}"><Owner><ID>{OWNER_ID}</ID>'
            f"<DisplayName>lamina</DisplayName></Owner><Buckets>{items}</Buckets>"
            "</ListAllMyBucketsResult>"
        )

    async def _bucket_op(
        self, req: Request, m: str, bucket: str, query: dict[str, str]
    ) -> Response:
        sub = subresource_of(query)
        if m == "PUT" and "notification" not in query and sub is None and "acl" not in query:
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
        if sub is not None:
            return await self._subresource(req, m, bucket, sub)
        if m == "HEAD":
            return Response(200, b"", {"x-amz-bucket-region": self.region})
        if m == "DELETE" and not query:
            result = await self.store.delete_bucket(bucket)
            if result == "not-empty":
                raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", 409)
            self._routes.pop(bucket, None)
            self._policy_changed(bucket, None)
            return empty_answer(204)
        if "notification" in query:
            if m == "PUT":
                routes = parse_configuration(request_body(req.headers, req.body))
                await self.store.set_notifications(bucket, render_configuration(routes).decode())
                self._routes[bucket] = routes
                return empty_answer(200)
            if m == "GET":
                return xml_answer(
                    render_configuration(await self._bucket_routes(bucket))
                    .decode()
                    .removeprefix('<?xml version="1.0" encoding="UTF-8"?>')
                )
        if "acl" in query and m in ("GET", "PUT"):
            # ACLs are disabled (BucketOwnerEnforced): the owner has full control.
            if m == "PUT":
                return empty_answer(200)
            return xml_answer(acl_document(OWNER_ID))
        if m == "GET" and (listed := next((n for n in EMPTY_LISTS if n in query), None)):
            return xml_answer(empty_list(listed))
        if m == "GET" and "location" in query:
            return xml_answer(
                f'<LocationConstraint xmlns="{XMLNS}">{self.region}</LocationConstraint>'
            )
        if m == "POST" and "delete" in query:
            return await self._delete_many(req, bucket)
        if m == "GET":
            listing = await list_objects(self.store, bucket, parse_list_objects(query))
            return xml_answer(listing)
        raise S3Error("NotImplemented", "A header or query you provided is not implemented", 501)

    async def _subresource(self, req: Request, m: str, bucket: str, name: str) -> Response:
        # A lifecycle configuration carries its transitions' minimum object size in a header
        # (kept beside the document; clients compare it with what they sent).
        size_key = f"{name}/{MIN_SIZE_HEADER}"
        if m == "GET":
            body, ctype = answer_for(name, await self.store.get_config(bucket, name), bucket)
            headers = {"Content-Type": ctype, "x-amz-request-id": s3_request_id()}
            if name == "lifecycle":
                size = await self.store.get_config(bucket, size_key)
                headers[MIN_SIZE_HEADER] = size.decode() if size else DEFAULT_MIN_SIZE
            return Response(200, body, headers)
        if m == "PUT":
            document = request_body(req.headers, req.body)
            check_document(name, document)
            await self.store.set_config(bucket, name, document)
            if name == "policy":
                self._policy_changed(bucket, document.decode("utf-8", "replace"))
            if name == "lifecycle":
                given = req.headers.get(MIN_SIZE_HEADER) or DEFAULT_MIN_SIZE
                await self.store.set_config(bucket, size_key, given.encode())
                return empty_answer(200, {MIN_SIZE_HEADER: given})
            return empty_answer(204 if name == "policy" else 200)
        if m == "DELETE":
            tombstone = b"" if name in DELETABLE_DEFAULTS else None
            await self.store.set_config(bucket, name, tombstone)
            if name == "policy":
                self._policy_changed(bucket, None)
            return empty_answer(204)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed", 405)

    def _policy_changed(self, bucket: str, document: str | None) -> None:
        if self.on_policy is not None:
            self.on_policy(f"arn:aws:s3:::{bucket}", document)

    async def policies(self) -> list[tuple[str, str]]:
        """Every bucket policy, as (bucket ARN, JSON): the authoriser's start-up load."""
        return [
            (f"arn:aws:s3:::{bucket}", doc.decode("utf-8", "replace"))
            for bucket, doc in await self.store.configs_named("policy")
        ]

    async def _object_tagging(self, req: Request, m: str, bucket: str, key: str) -> Response:
        """An object's tag set, kept with the bucket's configurations (``object-tagging/<key>``)."""
        if await self.store.head(bucket, key) is None:
            raise S3Error("NoSuchKey", "The specified key does not exist.", 404, f"/{bucket}/{key}")
        name = f"object-tagging/{key}"
        if m == "GET":
            stored = await self.store.get_config(bucket, name)
            if stored is None:
                return xml_answer(f'<Tagging xmlns="{XMLNS}"><TagSet/></Tagging>')
            headers = {"Content-Type": "application/xml", "x-amz-request-id": s3_request_id()}
            return Response(200, stored, headers)
        if m == "PUT":
            document = request_body(req.headers, req.body)
            check_document("tagging", document)
            await self.store.set_config(bucket, name, document)
            return empty_answer(200)
        if m == "DELETE":
            await self.store.set_config(bucket, name, None)
            return empty_answer(204)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed", 405)

    async def _bucket_routes(self, bucket: str) -> list[NotificationRoute]:
        if bucket not in self._routes:
            raw = await self.store.get_notifications(bucket)
            self._routes[bucket] = parse_configuration(raw.encode()) if raw else []
        return self._routes[bucket]

    # -- objects ------------------------------------------------------------------------
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
        # A new object replaces the old one's tags: x-amz-tagging's, or none.
        tagging = req.headers.get("x-amz-tagging")
        document = tagging_document(tagging) if tagging else None
        await self.store.set_config(bucket, f"object-tagging/{key}", document)
        await self._stored(req, bucket, key, size, etag, "ObjectCreated:Put")
        return empty_answer(200, {"ETag": f'"{etag}"'})

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
        meta = metadata if metadata is not None else object_metadata(req)
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

        # The caller's X-Ray trace continues into the notified functions and queues, as
        # S3 passes it on (kept with the queued event: lamina.tracing).
        with continued(req.headers.get("x-amzn-trace-id")):
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
            await self.store.set_config(bucket, f"object-tagging/{key}", None)
            await self._notify(req, bucket, key, "ObjectRemoved:Delete", None, None)
        return empty_answer(204)

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
        return xml_answer(f'<DeleteResult xmlns="{XMLNS}">{items}</DeleteResult>')

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
            object_metadata(req) if replace else info.metadata,
        )
        return xml_answer(
            f'<CopyObjectResult xmlns="{XMLNS}"><LastModified>{iso(time.time())}</LastModified>'
            f"<ETag>&quot;{etag}&quot;</ETag></CopyObjectResult>"
        )
