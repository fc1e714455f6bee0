"""Helpers for the event-source tests that drive a real ``lamina serve`` subprocess.

The server is :class:`tests.integration.harness.LaminaProcess` (which keeps reading its
output); these helpers build boto3 clients of every service against its one port, and
wait for conditions.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.integration.harness import LaminaProcess

REGION, ACCOUNT = "us-east-1", "000000000000"
CREDENTIALS = {"aws_access_key_id": "AKIDLAMINA", "aws_secret_access_key": "lamina-secret"}
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"


def start_server(data_dir: Path, env: dict[str, str] | None = None) -> LaminaProcess:
    """Start ``lamina serve`` (its output is kept in ``server.output``)."""
    return LaminaProcess(data_dir, dict(env or {})).start()


def kill(server: LaminaProcess) -> None:
    """SIGKILL the server (no clean shutdown of anything) and reap it."""
    assert server.proc is not None
    server.proc.kill()
    server.proc.wait()


def routes_endpoint(server: LaminaProcess) -> str:
    """Where the API routes listen (the server logs it before it starts serving)."""
    for line in server.output:
        m = re.search(r"API routes on (http://\S+)", line)
        if m:
            return m.group(1)
    raise AssertionError("the server did not start API routes:\n" + "".join(server.output))


def client(endpoint: str, service: str, **config: Any) -> Any:
    """A boto3 client of ``service`` against Lamina's port, signed with the dev key pair."""
    options: dict[str, Any] = {"retries": {"max_attempts": 0}, "read_timeout": 60}
    if service == "s3":
        options["s3"] = {"addressing_style": "path"}
    options.update(config)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(**options),
        **CREDENTIALS,
    )


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def zip_source(source: str, module: str = "app") -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(f"{module}.py", date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        zf.writestr(info, source)
    return buf.getvalue()


def wait_until(check: Callable[[], bool], limit_s: float = 60.0, what: str = "") -> None:
    """Poll ``check`` until it holds; fail after ``limit_s`` (a guard, not a threshold)."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)


def receive_all(sqs: Any, url: str, wait_s: int = 0) -> list[dict[str, Any]]:
    """Receive and delete every message visible now; returns them (bodies as JSON)."""
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return out
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ],
        )
        for m in got:
            m["json"] = json.loads(m["Body"])
        out.extend(got)
        wait_s = 0
