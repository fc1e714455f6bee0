"""An embedded SQS service on its own port, and boto3 clients for both protocols."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from lamina.services.sqs.handler import SqsHandler
from lamina.services.sqs.service import SqsService
from lamina.services.sqs.store import SqsStore
from tests.events.servers import LoopThread

CREDS = {"aws_access_key_id": "AKIDLAMINA", "aws_secret_access_key": "lamina-secret"}


@dataclass
class SqsServer:
    loop: LoopThread
    service: SqsService
    url: str

    def client(self, read_timeout: int = 30) -> Any:
        return boto3.client(
            "sqs",
            endpoint_url=self.url,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 0}, read_timeout=read_timeout),
            **CREDS,
        )


def start_sqs(
    tmp: Path, account: str = "000000000000", clock: Callable[[], float] = time.time
) -> Iterator[SqsServer]:
    loop = LoopThread()
    store = SqsStore(tmp / "sqs.db", fsync=False)
    service = SqsService(store, "us-east-1", account, clock)
    handler = SqsHandler(service)
    server, url = loop.serve(handler.handle)
    yield SqsServer(loop, service, url)
    loop.call(server.close)
    loop.stop()
    store.close()
