"""S3-format notifications from an external S3-compatible store: by webhook or via a queue.

Stores such as MinIO or Ceph post S3 event records to a webhook, or put them on a queue.
Either way each record is routed like an embedded bucket's event: to the target function
(asynchronously, through the durable queue) when the route's events and key filters
match. Records keep the store's own extra fields, but what S3's shape requires and the
store leaves out or spells its own way (``eventSource: minio:s3``, ``eventName:
s3:ObjectCreated:Put``, an empty region, no ``x-amz-id-2``) is set as S3 sets it, so
a function written for S3 events (e.g. parsing them with a typed model) runs unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from lamina.arns import bucket_arn
from lamina.events.esm.clients import QueueClient
from lamina.events.s3.dispatch import Notifier
from lamina.services.s3.notifications import NotificationRoute
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

log = logging.getLogger("lamina.events.s3")


def records_of(body: bytes) -> list[dict[str, Any]]:
    """The S3 records in a notification body (AWS's ``{"Records":[...]}`` or MinIO's)."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise ValueError("the notification is not JSON") from None
    records = doc.get("Records") if isinstance(doc, dict) else None
    if not isinstance(records, list):
        raise ValueError("the notification has no Records list")
    for r in records:
        if not isinstance(r, dict) or not isinstance(r.get("s3"), dict) or "eventName" not in r:
            raise ValueError("a record lacks eventName or s3")
    return records


def _dict(parent: dict[str, Any], field: str) -> dict[str, Any]:
    value = parent.get(field)
    if not isinstance(value, dict):
        value = parent[field] = {}
    return value


def as_s3_record(record: dict[str, Any], region: str) -> dict[str, Any]:
    """A copy of an external store's record in the shape S3 gives Lambda (pure)."""
    out: dict[str, Any] = json.loads(json.dumps(record))  # a deep copy of plain JSON
    out["eventSource"] = "aws:s3"
    out["eventName"] = str(out["eventName"]).removeprefix("s3:")
    if not str(out.get("eventVersion", "")).startswith("2."):
        out["eventVersion"] = "2.1"
    if not out.get("awsRegion"):
        out["awsRegion"] = region
    principal = str(_dict(out, "userIdentity").get("principalId") or "EXTERNAL")
    out["userIdentity"]["principalId"] = principal
    params = _dict(out, "requestParameters")
    params.setdefault("sourceIPAddress", "127.0.0.1")
    elements = _dict(out, "responseElements")
    request_id = str(elements.get("x-amz-request-id") or elements.get("x-amz-id-2") or "0")
    elements["x-amz-request-id"] = request_id
    elements.setdefault("x-amz-id-2", request_id)
    s3 = out["s3"]
    s3.setdefault("s3SchemaVersion", "1.0")
    s3.setdefault("configurationId", "external")
    bucket = _dict(s3, "bucket")
    bucket.setdefault("name", "")
    _dict(bucket, "ownerIdentity").setdefault("principalId", principal)
    bucket.setdefault("arn", bucket_arn(bucket["name"]))
    return out


async def route_records(
    records: list[dict[str, Any]], routes: list[NotificationRoute], notifier: Notifier, region: str
) -> int:
    n = 0
    for raw in records:
        r = as_s3_record(raw, region)
        key = unquote_plus(str(r["s3"].get("object", {}).get("key", "")))
        for route in routes:
            if route.matches(r["eventName"], key):
                await notifier.deliver(route, r)
                n += 1
    return n


def route_from_query(function: str, query: str) -> NotificationRoute:
    """``POST /.../<function>?events=s3:ObjectCreated:*&prefix=in/&suffix=.jpg``."""
    q = dict(parse_qsl(query))
    events = tuple(e for e in q.get("events", "s3:ObjectCreated:*,s3:ObjectRemoved:*").split(","))
    return NotificationRoute(
        "webhook", "lambda", function, events, q.get("prefix", ""), q.get("suffix", "")
    )


class S3Webhook:
    """``POST <prefix>/<function>`` with an S3 event body invokes the function per record."""

    def __init__(
        self, notifier: Notifier, region: str, prefix: str = "/lamina/v1/s3-events/"
    ) -> None:
        self.notifier = notifier
        self.region = region
        self.prefix = prefix

    async def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        function = req.path[len(self.prefix) :].strip("/")
        if req.method != "POST" or not function:
            return Response(404, b'{"message":"POST /lamina/v1/s3-events/<function>"}')
        try:
            records = records_of(req.body)
        except ValueError as exc:
            return Response(400, json.dumps({"message": str(exc)}).encode())
        route = route_from_query(function, req.target.partition("?")[2])
        n = await route_records(records, [route], self.notifier, self.region)
        return Response(
            202, json.dumps({"accepted": n}).encode(), {"Content-Type": "application/json"}
        )


class S3QueueRelay:
    """Reads S3 notifications off a queue and routes their records (deletes what it read)."""

    def __init__(
        self, client: QueueClient, routes: list[NotificationRoute], notifier: Notifier, region: str
    ) -> None:
        self.client = client
        self.routes = routes
        self.notifier = notifier
        self.region = region
        self._task: asyncio.Task[None] | None = None
        self.relayed = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def _run(self) -> None:
        while True:
            try:
                messages = await self.client.receive(10, 20.0)
                done = []
                for m in messages:
                    try:
                        records = records_of(m.body.encode())
                    except ValueError as exc:
                        # s3:TestEvent and foreign messages: drop them, as Lambda's S3 relay would
                        log.info("skipping a non-S3 message %s: %s", m.message_id, exc)
                    else:
                        self.relayed += await route_records(
                            records, self.routes, self.notifier, self.region
                        )
                    done.append(m.receipt_handle)
                if done:
                    await self.client.delete(done)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("S3 notification relay failed; retrying")
                await asyncio.sleep(1.0)
