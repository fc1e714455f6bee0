"""Hostile functions against a real ``lamina serve`` (as root, process tier)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="session")
def lamina(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    if os.geteuid() != 0:
        pytest.skip("the process sandbox needs root")
    data: Path = tmp_path_factory.mktemp("lamina-security")
    server = LaminaProcess(
        data,
        {
            "LAMINA_ISOLATION": "process",
            "LAMINA_FREEZE_GRACE_S": "0.05",
            "LAMINA_IDLE_RECLAIM_S": "120",
        },
    ).start()
    yield server
    server.stop()


class HostService:
    """A TCP service on the host's loopback that answers every connection with a secret."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(b"host-secret\n")

    def close(self) -> None:
        # Wake the blocked accept() before closing: a thread still inside accept() on a closed
        # descriptor would take connections meant for whatever socket reuses the number.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def host_service() -> Iterator[HostService]:
    service = HostService()
    yield service
    service.close()
