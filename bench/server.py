"""Start a real Lamina server in a subprocess and speak its Lambda API.

The bench drives Lamina exactly as users do: ``lamina serve`` in its own process,
functions created and reconfigured through the REST API, invokes over loopback.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.rawhttp import RawConnection
from lamina.client.http import Answer, expect, fn_path
from lamina.client.lambda_api import LambdaClient

ROOT = Path(__file__).resolve().parents[1]
SERVING = re.compile(r"Lamina serving on http://([\d.]+):(\d+) \((\w+)")
# Bench functions get room for a slow cold start (Lambda's default is 3 s).
TIMEOUT_S = 30


class LaminaServer:
    """``lamina serve --port 0`` in a fresh data directory; stopped with SIGTERM."""

    def __init__(
        self,
        python: str = sys.executable,
        isolation: str | None = None,
        startup_timeout_s: float = 60.0,
    ) -> None:
        self._python = python
        self._isolation = isolation
        self._timeout = startup_timeout_s
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._drain: threading.Thread | None = None
        self.output: list[str] = []
        self.host = "127.0.0.1"
        self.port = 0
        self.event_loop = ""

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> LaminaServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="lamina-bench-")
        cmd = [
            self._python, "-m", "lamina.cli.main", "serve",
            "--port", "0", "--data-dir", str(Path(self._tmp.name) / "data"),
        ]  # fmt: skip
        if self._isolation:
            cmd += ["--isolation", self._isolation]
        # The server's own log goes to a pipe a thread drains, so it never blocks Lamina.
        self._proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + self._timeout
        for line in self._proc.stdout:
            self.output.append(line)
            m = SERVING.search(line)
            if m:
                self.host, self.port, self.event_loop = m.group(1), int(m.group(2)), m.group(3)
                break
            if time.monotonic() > deadline:
                break
        if not self.port:
            self.stop()
            raise RuntimeError("Lamina did not start:\n" + "".join(self.output[-40:]))
        self._drain = threading.Thread(target=self._keep_reading, daemon=True)
        self._drain.start()
        return self

    def _keep_reading(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self.output.append(line)
            del self.output[:-500]

    def warnings(self) -> list[str]:
        """The server's WARNING and ERROR log lines so far (a bench must not hide them)."""
        return [line.rstrip() for line in self.output if " WARNING " in line or " ERROR " in line]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LaminaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api(self) -> LambdaClient:
        return bench_api(self.host, self.port)


class KeepAliveTransport:
    """The Lambda API over one unsigned keep-alive connection (the bench's cheap client);
    :class:`LambdaClient` speaks through it as the tools speak through the signed one."""

    def __init__(self, host: str, port: int) -> None:
        self.endpoint = f"http://{host}:{port}"
        self.conn = RawConnection(host, port)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> Answer:
        raw = self.conn.request(method, path, body or b"", headers)
        return expect(Answer(raw.status, raw.headers, raw.body), ok)

    def close(self) -> None:
        self.conn.close()


def bench_api(host: str, port: int) -> LambdaClient:
    """A Lambda client over a fresh keep-alive connection (``close()`` it when done)."""
    return LambdaClient(KeepAliveTransport(host, port))


def invoke_path(name: str) -> str:
    return fn_path(name) + "/invocations"
