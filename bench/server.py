"""Start a real Lamina server in a subprocess and speak its Lambda API.

The bench drives Lamina exactly as users do: ``lamina serve`` in its own process,
functions created and reconfigured through the REST API, invokes over loopback.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.rawhttp import RawConnection, RawResponse

ROOT = Path(__file__).resolve().parents[1]
SERVING = re.compile(r"Lamina serving on http://([\d.]+):(\d+) \((\w+)")
FUNCTIONS = "/2015-03-31/functions"
ROLE = "arn:aws:iam::000000000000:role/lamina-bench"


class ApiError(Exception):
    """Raised when the Lambda API answers a bench call with an unexpected status."""


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

    def api(self) -> LambdaApi:
        return LambdaApi(self.host, self.port)


def function_path(name: str) -> str:
    return f"{FUNCTIONS}/{quote(name, safe='')}"


class LambdaApi:
    """The few Lambda API calls the bench needs, over one keep-alive connection."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = RawConnection(host, port)

    def close(self) -> None:
        self.conn.close()

    def call(
        self, method: str, path: str, body: object = None, ok: tuple[int, ...] = (200,)
    ) -> Any:
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if body is not None else None
        answer = self.conn.request(method, path, data, headers)
        if answer.status not in ok:
            raise ApiError(f"{method} {path} → {answer.status}: {answer.body[:500]!r}")
        return json.loads(answer.body) if answer.body else None

    def create_function(
        self,
        name: str,
        code: bytes,
        runtime: str,
        handler: str,
        memory_mb: int = 128,
        variables: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": runtime,
            "Handler": handler,
            "Role": ROLE,
            "MemorySize": memory_mb,
            "Timeout": 30,
            "Code": {"ZipFile": base64.b64encode(code).decode()},
        }
        if variables:
            body["Environment"] = {"Variables": variables}
        body.update(extra or {})
        result: dict[str, Any] = self.call("POST", FUNCTIONS, body, ok=(201,))
        return result

    def set_variables(self, name: str, variables: dict[str, str]) -> None:
        """UpdateFunctionConfiguration: a new environment retires the warm environments."""
        body = {"Environment": {"Variables": variables}}
        self.call("PUT", function_path(name) + "/configuration", body)

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/lamina/v1/health")
        return result

    def runtimes(self) -> dict[str, dict[str, str]]:
        """The interpreter each runtime resolves to on this host, by runtime name."""
        body = self.call("GET", "/lamina/v1/runtimes")
        return {r["runtime"]: r for r in body["runtimes"]}

    def unreserved_concurrency(self) -> int:
        body = self.call("GET", "/2016-08-19/account-settings")
        return int(body["AccountLimit"]["UnreservedConcurrentExecutions"])

    def invoke(self, name: str, payload: bytes = b"{}", tail: bool = False) -> RawResponse:
        headers = {"X-Amz-Log-Type": "Tail"} if tail else None
        return self.conn.request("POST", invoke_path(name), payload, headers)


def invoke_path(name: str) -> str:
    return function_path(name) + "/invocations"
