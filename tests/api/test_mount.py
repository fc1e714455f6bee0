"""Other components mount their endpoints on the API's port, with or without SigV4."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

from lamina.config import Settings
from lamina.errors import AwsServiceError, S3Error
from lamina.server import start
from lamina.services.protocol.errors import Protocol, Wire
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_mounted_handlers_get_their_requests_and_their_own_auth(tmp_path: Path) -> None:
    settings = Settings(
        port=0, data_dir=tmp_path, isolation="none", access_keys={"AKIDMOUNT": "mount-secret"}
    )

    def echo(req: Request, conn: HttpConnection | None) -> Response:
        return Response(200, json.dumps({"path": req.path}).encode(), {})

    async def main() -> None:
        lamina = await start(settings)
        try:
            api = lamina.api
            api.mount("/open-mount/", echo, auth=None)
            api.mount(lambda r: r.headers.get("x-amz-target", "").startswith("Svc."), echo)
            api.mount("/signed/", echo)
            base = lamina.endpoint
            assert await asyncio.to_thread(get, base + "/open-mount/abc/x") == (
                200,
                b'{"path": "/open-mount/abc/x"}',
            )
            status, body = await asyncio.to_thread(get, base + "/signed/x")
            assert status == 403 and b"Missing Authentication Token" in body
            status, _ = await asyncio.to_thread(get, base + "/other", {"X-Amz-Target": "Svc.Op"})
            assert status == 403
            # The Lambda routes still answer, signed.
            lam = boto3.client(
                "lambda",
                endpoint_url=base,
                region_name="us-east-1",
                aws_access_key_id="AKIDMOUNT",
                aws_secret_access_key="mount-secret",
                config=Config(retries={"max_attempts": 0}),
            )
            listed = await asyncio.to_thread(lam.list_functions)
            assert listed["Functions"] == []
        finally:
            await lamina.close()

    asyncio.run(main())


def test_errors_a_mount_lets_escape_are_answered_in_its_protocol(tmp_path: Path) -> None:
    settings = Settings(port=0, data_dir=tmp_path, isolation="none")

    def refuse(req: Request, conn: HttpConnection | None) -> Response:
        raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, "/nb")

    async def refuse_later(req: Request, conn: HttpConnection | None) -> Response:
        await asyncio.sleep(0)
        raise AwsServiceError("ValidationException", "later", 400)

    async def main() -> None:
        lamina = await start(settings)
        try:
            api = lamina.api
            api.mount("/xml-mount/", refuse, auth=None, protocol=Protocol(Wire.REST_XML))
            json11 = Protocol(Wire.JSON, "application/x-amz-json-1.1")
            api.mount("/json-mount/", refuse_later, auth=None, protocol=json11)
            base = lamina.endpoint
            status, body = await asyncio.to_thread(get, base + "/xml-mount/x")
            assert status == 404
            assert b"<Code>NoSuchBucket</Code>" in body and b"<Resource>/nb</Resource>" in body
            status, body = await asyncio.to_thread(get, base + "/json-mount/x")
            assert (status, json.loads(body)) == (
                400,
                {"__type": "ValidationException", "message": "later"},
            )
            # The Lambda routes answer in Lambda's shape.
            status, body = await asyncio.to_thread(get, base + "/2015-03-31/functions/nope")
            assert status == 404 and json.loads(body)["Type"] == "User"
        finally:
            await lamina.close()

    asyncio.run(main())
