"""``GET /lamina/v1/cluster/code/{Sha256}`` on a real server with keys: agents fetch code."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.api.sigv4 import sign_headers
from lamina.cluster.codecache import CodeCache, CodeFetchError
from lamina.cluster.codesource import CODE_ROUTE, ControlPlaneSource
from lamina.errors import ResourceNotFound
from tests.integration.harness import LaminaProcess, aws_client, python_zip, signed_lamina

KEY, SECRET = "AKIDCLUSTERAGENT", "agent-secret"
ROLE = "arn:aws:iam::000000000000:role/code-route"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    # Signed mode: a function's role must exist.
    with signed_lamina(tmp_path_factory.mktemp("code-route"), KEY, SECRET, "code-route") as proc:
        yield proc


def client(server: LaminaProcess) -> Any:
    return aws_client(server, "lambda", KEY, SECRET)


def hex_digest(code_sha256: str) -> str:
    return base64.b64decode(code_sha256).hex()


def big_zip() -> bytes:
    # Stored, not deflated: several MB on the wire, so the answer comes in many chunks.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        zf.writestr("blob.bin", os.urandom(3 * 1024 * 1024))
    return buf.getvalue()


def test_an_agent_fetches_a_function_package_and_a_layer(
    server: LaminaProcess, tmp_path: Path
) -> None:
    lam = client(server)
    code = big_zip()
    created = lam.create_function(
        FunctionName="fetched",
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code},
    )
    layer_zip = python_zip("X = 1\n", module="python/shared")
    layer = lam.publish_layer_version(LayerName="shared", Content={"ZipFile": layer_zip})
    source = ControlPlaneSource(server.endpoint, (KEY, SECRET), "us-east-1")
    cache = CodeCache(tmp_path / "cache", source)
    digest = hex_digest(created["CodeSha256"])
    assert digest == hashlib.sha256(code).hexdigest()
    assert cache.ensure(digest).read_bytes() == code
    layer_digest = hex_digest(layer["Content"]["CodeSha256"])
    assert cache.ensure(layer_digest).read_bytes() == layer_zip


def test_agents_that_go_away_mid_package_leave_the_server_serving(
    server: LaminaProcess,
) -> None:
    code = big_zip()
    created = client(server).create_function(
        FunctionName="abandoned",
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code},
    )
    path = CODE_ROUTE + hex_digest(created["CodeSha256"])
    host, port = server.endpoint.removeprefix("http://").split(":")
    for _ in range(5):
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(signed_request(server, path))
            head = sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert b"transfer-encoding: chunked" in head.lower()
        # Closed after the first bytes: the server stops sending and keeps serving.
    status, _, body = get(server, CODE_ROUTE + hex_digest(created["CodeSha256"]), signed=True)
    assert status == 200 and body == code


def test_an_unknown_digest_is_an_aws_shaped_404(server: LaminaProcess, tmp_path: Path) -> None:
    cache = CodeCache(tmp_path, ControlPlaneSource(server.endpoint, (KEY, SECRET), "us-east-1"))
    with pytest.raises(ResourceNotFound, match="control plane"):
        cache.ensure("0" * 64)
    # Not even a digest: the same 404, never a path lookup.
    status, headers, body = get(server, CODE_ROUTE + "..%2F..%2Fetc", signed=True)
    assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert "Code package not found" in json.loads(body)["message"]


def test_the_route_refuses_unsigned_and_wrongly_signed_requests(
    server: LaminaProcess, tmp_path: Path
) -> None:
    status, headers, _ = get(server, CODE_ROUTE + "0" * 64, signed=False)
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    wrong = ControlPlaneSource(server.endpoint, (KEY, "not-the-secret"), "us-east-1")
    with pytest.raises(CodeFetchError, match="403"):
        CodeCache(tmp_path, wrong).ensure("0" * 64)


def signed_headers(server: LaminaProcess, path: str) -> dict[str, str]:
    headers = {"Host": server.endpoint.removeprefix("http://")}
    headers.update(
        sign_headers(
            "GET",
            path,
            headers,
            b"",
            access_key=KEY,
            secret=SECRET,
            region="us-east-1",
            service="lambda",
            amz_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        )
    )
    return headers


def signed_request(server: LaminaProcess, path: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in signed_headers(server, path).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def get(server: LaminaProcess, path: str, *, signed: bool) -> tuple[int, dict[str, str], bytes]:
    headers = signed_headers(server, path) if signed else {}
    req = urllib.request.Request(server.endpoint + path, headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
