"""A small, real Runtime API server for testing runtimes without the platform.

It speaks the protocol of LAMBDA.md over real sockets (HTTP/1.1, keep-alive, one thread per
connection): ``/next`` blocks until the test queues an event and always carries
``Content-Type: application/json``; answers and init errors are recorded for assertions.
``close_after_answer`` makes the server drop the connection after every answer it accepts,
without warning, the way an idle keep-alive connection gets closed.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PREFIX = "/2018-06-01/runtime/"
WAIT_S = 30.0  # a safety net against hangs, not a timing assertion


@dataclass(frozen=True)
class Answer:
    """What a runtime posted: ``kind`` is ``response``, ``error`` or ``init_error``."""

    kind: str
    request_id: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class _Event:
    request_id: str
    body: bytes
    headers: dict[str, str]


@dataclass
class _State:
    events: queue.Queue[_Event | None] = field(default_factory=queue.Queue)
    answers: dict[str, Answer] = field(default_factory=dict)
    init_errors: list[Answer] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    connections: int = 0
    close_after_answer: bool = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.state.cond:
            self.server.state.connections += 1

    def _send(
        self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> None:
        # One write per answer, as the real server does (split writes meet Nagle + delayed ACK).
        lines = [f"HTTP/1.1 {status} {'OK' if status < 300 else 'Error'}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines.append(f"Content-Length: {len(body)}")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def do_GET(self) -> None:
        state = self.server.state
        if self.path != PREFIX + "invocation/next":
            self._send(404, b'{"errorMessage":"not found"}')
            return
        event = state.events.get()
        if event is None:  # the server is stopping
            self._send(500, b'{"errorMessage":"shutting down"}')
            self.close_connection = True
            return
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": event.request_id,
            **event.headers,
        }
        self._send(200, event.body, headers)

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        rest = self.path.removeprefix(PREFIX)
        if rest == "init/error":
            answer = Answer("init_error", "", body, headers)
        else:
            parts = rest.split("/")
            if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
                self._send(404, b'{"errorMessage":"not found"}')
                return
            answer = Answer(parts[2], parts[1], body, headers)
        with state.cond:
            duplicate = answer.kind != "init_error" and answer.request_id in state.answers
        if duplicate:
            self._send(403, b'{"errorType":"InvalidStateTransition"}')
            return
        # Answer first, publish after: a test that stops the runtime as soon as it sees the
        # answer must not cut the runtime's connection before the 202 went out.
        self._send(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
        if state.close_after_answer:
            self.close_connection = True
        with state.cond:
            if answer.kind == "init_error":
                state.init_errors.append(answer)
            else:
                state.answers[answer.request_id] = answer
            state.cond.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State

    def handle_error(self, request: object, client_address: object) -> None:
        # Runtimes are killed mid-request at the end of tests; that is not news.
        pass


class FakeRuntimeApi:
    """One Runtime API endpoint; use as a context manager."""

    def __init__(self, *, close_after_answer: bool = False) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(close_after_answer=close_after_answer)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def connections(self) -> int:
        """How many TCP connections runtimes have opened so far."""
        return self._server.state.connections

    def __enter__(self) -> FakeRuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for _ in range(4):
            self._server.state.events.put(None)
        self._server.shutdown()
        self._server.server_close()

    def queue_event(
        self,
        event: object,
        *,
        request_id: str | None = None,
        deadline_ms: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Queue an event for the next ``/next``; return its request id."""
        request_id = request_id or str(uuid.uuid4())
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        deadline = deadline_ms if deadline_ms is not None else int(time.time() * 1000) + 60_000
        all_headers = {
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
            "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            **(headers or {}),
        }
        self._server.state.events.put(_Event(request_id, body, all_headers))
        return request_id

    def wait_answer(
        self, request_id: str, process: subprocess.Popen[bytes] | None = None
    ) -> Answer:
        """Wait until the runtime answers ``request_id`` (fails if it exits first)."""
        state = self._server.state
        deadline = time.monotonic() + WAIT_S
        with state.cond:
            while request_id not in state.answers:
                if process is not None and process.poll() is not None:
                    raise AssertionError(
                        f"runtime exited with {process.returncode} before answering"
                    )
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer for {request_id} within {WAIT_S} s")
                state.cond.wait(0.05)
            return state.answers[request_id]

    def invoke(
        self, event: object, process: subprocess.Popen[bytes] | None = None, **kwargs: object
    ) -> Answer:
        """Queue one event and wait for its answer."""
        request_id = self.queue_event(event, **kwargs)  # type: ignore[arg-type]
        return self.wait_answer(request_id, process)

    def wait_init_error(self) -> Answer:
        state = self._server.state
        deadline = time.monotonic() + WAIT_S
        with state.cond:
            while not state.init_errors:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no init error within {WAIT_S} s")
                state.cond.wait(0.05)
            return state.init_errors[0]


@dataclass
class RuntimeProcess:
    """A runtime started as a real process, its output going to files."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait(self) -> int:
        return self.process.wait(WAIT_S)


def lambda_environment(
    api: FakeRuntimeApi, task_root: Path, handler: str, **extra: str
) -> dict[str, str]:
    """The variables Lamina sets in an execution environment (see LAMBDA.md)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "_HANDLER": handler,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.update(extra)
    return env


@contextmanager
def run_runtime(
    argv: tuple[str, ...] | list[str], env: Mapping[str, str], cwd: Path, log_dir: Path
) -> Iterator[RuntimeProcess]:
    """Start a runtime process; kill it on the way out if it is still running."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "stdout.log", log_dir / "stderr.log"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
    try:
        yield RuntimeProcess(process, out_path, err_path)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
