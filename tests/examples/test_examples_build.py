"""The example functions build, and AWS's own runtime clients run them.

`scripts/build-examples.sh` runs once per session. Each custom-runtime zip is then
unpacked and its `bootstrap` started as a real process against a small Runtime API
server in this file (threads on 127.0.0.1, port 0), which hands out events and
records what the runtime posts back. The hello handlers for python3.11 and
nodejs20.x are run by the same AWS clients (awslambdaric, aws-lambda-ric), so all
three languages are checked for identical behaviour.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-examples.sh"
EXAMPLE_NAMES = (
    "hello-python",
    "hello-node",
    "hello-rust",
    "streaming-rust",
    "ric-python",
    "ric-node",
    "sdk-node-s3",
    "sls-otel-extension",
)
CUSTOM_RUNTIMES = ("hello-rust", "ric-python", "ric-node")
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:hello"
# Guards against a hung runtime; never reached when things work.
HANG_GUARD_S = 60.0


# --- a minimal Runtime API -----------------------------------------------------


@dataclass(frozen=True)
class Posted:
    """One answer a runtime posted: kind is response, error or init_error."""

    kind: str
    request_id: str | None
    body: Any
    headers: dict[str, str]


@dataclass
class RuntimeApiState:
    events: queue.Queue[tuple[str, bytes]] = field(default_factory=queue.Queue)
    posted: queue.Queue[Posted] = field(default_factory=queue.Queue)
    stopping: threading.Event = field(default_factory=threading.Event)
    next_ports: list[int] = field(default_factory=list)
    handler_errors: list[str] = field(default_factory=list)


class RuntimeApiHandler(BaseHTTPRequestHandler):
    """Serves the four Runtime API calls the clients make; keep-alive HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    server: RuntimeApiServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        state = self.server.state
        if self.path != "/2018-06-01/runtime/invocation/next":
            self._answer(404, b'{"errorType":"NotFound"}')
            return
        state.next_ports.append(self.client_address[1])
        # /next has no client timeout: wait until there is work or the test ends.
        while not state.stopping.is_set():
            try:
                request_id, event = state.events.get(timeout=0.1)
            except queue.Empty:
                continue
            now = time.time()
            trace = (
                f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]};"
                f"Parent={uuid.uuid4().hex[:16]};Sampled=0"
            )
            headers = {
                "Lambda-Runtime-Aws-Request-Id": request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(now * 1000) + 30_000),
                "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                "Lambda-Runtime-Trace-Id": trace,
            }
            self._answer(200, event, headers, chunked=self.server.chunked_next)
            return
        self._answer(500, b'{"errorType":"Stopping"}')

    def do_POST(self) -> None:
        body = self._read_body()
        parts = self.path.split("/")
        headers = {k.lower(): v for k, v in self.headers.items()}
        posted: Posted | None = None
        if self.path == "/2018-06-01/runtime/init/error":
            posted = Posted("init_error", None, json.loads(body), headers)
        elif (
            len(parts) == 6
            and parts[:4] == ["", "2018-06-01", "runtime", "invocation"]
            and parts[5] in ("response", "error")
        ):
            posted = Posted(parts[5], parts[4], json.loads(body), headers)
        if posted is None:
            self._answer(404, b'{"errorType":"NotFound"}')
            return
        self._answer(202, b'{"status":"OK"}')
        self.server.state.posted.put(posted)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _answer(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {self.responses[status][0]}",
            "Content-Type: application/json",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
            pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
            body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces)
            body += b"0\r\nX-Trailer: yes\r\n\r\n"
        else:
            lines.append(f"Content-Length: {len(body)}")
        if self.server.close_each:
            lines.append("Connection: close")
            self.close_connection = True
        # One write per answer: a split write costs Nagle + delayed-ACK latency.
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


class RuntimeApiServer(ThreadingHTTPServer):
    """A Runtime API for one environment; `invoke` feeds it an event."""

    daemon_threads = True

    def __init__(self, *, close_each: bool = False, chunked_next: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), RuntimeApiHandler)
        self.state = RuntimeApiState()
        self.close_each = close_each
        self.chunked_next = chunked_next

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime killed at the end of a test resets its connection: not an error.
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            self.state.handler_errors.append(repr(error))

    def invoke(self, event: object) -> Posted:
        """Queue one event and wait for the runtime's answer to it."""
        request_id = str(uuid.uuid4())
        self.state.events.put((request_id, json.dumps(event).encode()))
        posted = self.state.posted.get(timeout=HANG_GUARD_S)
        assert posted.request_id == request_id, posted
        return posted


@contextlib.contextmanager
def serving(server: RuntimeApiServer) -> Iterator[RuntimeApiServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.state.stopping.set()
        server.shutdown()
        server.server_close()
    assert not server.state.handler_errors


@pytest.fixture
def runtime_api() -> Iterator[RuntimeApiServer]:
    with serving(RuntimeApiServer()) as server:
        yield server


# --- building and unpacking -------------------------------------------------------


@pytest.fixture(scope="session")
def built_examples() -> Path:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    return REPO / "build" / "examples"


def unpack(zip_path: Path, dest: Path) -> Path:
    """Extract a zip keeping the Unix mode bits recorded in it (zipfile drops them)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)
    return dest


@pytest.fixture(scope="session")
def unpacked(built_examples: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("examples")
    return {name: unpack(built_examples / f"{name}.zip", root / name) for name in EXAMPLE_NAMES}


# --- running a runtime process ------------------------------------------------------


def lambda_env(api: str, task_root: Path, handler: str, **extra: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "AWS_LAMBDA_RUNTIME_API": api,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(task_root),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "hello",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/hello",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]" + uuid.uuid4().hex,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "TZ": "UTC",
        "LANG": "en_US.UTF-8",
        "AWS_ACCESS_KEY_ID": "AKIDLAMINA",
        "AWS_SECRET_ACCESS_KEY": "lamina",
        "AWS_SESSION_TOKEN": "lamina",
    }
    env.update(extra)
    return env


@dataclass(frozen=True)
class RuntimeCase:
    """How to start one runtime client on one example, and what it calls itself."""

    example: str
    runtime: str
    handler: str


CASES = {
    "hello-rust": RuntimeCase("hello-rust", "rust", "bootstrap"),
    "ric-python": RuntimeCase("ric-python", "python-awslambdaric", "app.handler"),
    "ric-node": RuntimeCase("ric-node", "node-aws-lambda-ric", "index.handler"),
    # The python3.11 / nodejs20.x hello handlers, run by AWS's clients.
    "hello-python": RuntimeCase("hello-python", "python", "app.handler"),
    "hello-node": RuntimeCase("hello-node", "node", "index.handler"),
}


def command_for(case: RuntimeCase, unpacked: dict[str, Path]) -> tuple[list[str], dict[str, str]]:
    """The process to start for a case, and extra environment it needs."""
    root = unpacked[case.example]
    if case.example == "hello-python":
        vendored = unpacked["ric-python"]
        return (
            ["/usr/bin/python3", "-m", "awslambdaric", case.handler],
            {"PYTHONPATH": f"{root}:{vendored}"},
        )
    if case.example == "hello-node":
        client = unpacked["ric-node"] / "node_modules" / "aws-lambda-ric" / "bin" / "index.mjs"
        return (["/usr/bin/node", str(client), case.handler], {})
    return ([str(root / "bootstrap")], {})


class StartRuntime(Protocol):
    """Starts a runtime process for a case against a Runtime API server."""

    def __call__(
        self, case: RuntimeCase, server: RuntimeApiServer, **extra_env: str
    ) -> subprocess.Popen[bytes]: ...


@pytest.fixture
def start_runtime(unpacked: dict[str, Path], tmp_path: Path) -> Iterator[StartRuntime]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(
        case: RuntimeCase, server: RuntimeApiServer, **extra_env: str
    ) -> subprocess.Popen[bytes]:
        argv, extra = command_for(case, unpacked)
        root = unpacked[case.example]
        env = lambda_env(server.address, root, case.handler, **extra, **extra_env)
        with (tmp_path / f"{case.example}.log").open("ab") as log:
            proc = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(proc)
        return proc

    yield start
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=HANG_GUARD_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- tests ---------------------------------------------------------------------------


def test_build_produces_a_zip_for_every_example(built_examples: Path) -> None:
    for name in EXAMPLE_NAMES:
        zip_path = built_examples / f"{name}.zip"
        assert zip_path.is_file(), name
        with zipfile.ZipFile(zip_path) as zf:
            assert zf.testzip() is None, name


def test_hello_zips_hold_the_handler_sources(built_examples: Path) -> None:
    with zipfile.ZipFile(built_examples / "hello-python.zip") as zf:
        assert "app.py" in zf.namelist()
    with zipfile.ZipFile(built_examples / "hello-node.zip") as zf:
        assert "index.mjs" in zf.namelist()


@pytest.mark.parametrize("name", CUSTOM_RUNTIMES)
def test_custom_runtime_zip_has_an_executable_bootstrap_at_its_root(
    built_examples: Path, name: str
) -> None:
    with zipfile.ZipFile(built_examples / f"{name}.zip") as zf:
        info = zf.getinfo("bootstrap")
    mode = info.external_attr >> 16
    assert stat.S_ISREG(mode)
    assert mode & 0o111 == 0o111


def test_rebuild_with_unchanged_sources_is_skipped(built_examples: Path) -> None:
    before = {n: (built_examples / f"{n}.zip").stat().st_mtime_ns for n in EXAMPLE_NAMES}
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.count("up to date") == len(EXAMPLE_NAMES), result.stdout
    after = {n: (built_examples / f"{n}.zip").stat().st_mtime_ns for n in EXAMPLE_NAMES}
    assert after == before


def test_build_rejects_an_unknown_example_name() -> None:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--only", "no-such-example"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown example" in result.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_runtime_client_answers_hello_and_keeps_its_environment_warm(
    runtime_api: RuntimeApiServer, start_runtime: StartRuntime, name: str
) -> None:
    case = CASES[name]
    start_runtime(case, runtime_api)

    first = runtime_api.invoke({"name": "Ada"})
    assert first.kind == "response", first
    assert first.body == {
        "message": "Hello, Ada!",
        "runtime": case.runtime,
        "requestId": first.request_id,
        "coldStart": True,
        "invocations": 1,
    }

    second = runtime_api.invoke({})
    assert second.kind == "response", second
    assert second.body == {
        "message": "Hello, World!",
        "runtime": case.runtime,
        "requestId": second.request_id,
        "coldStart": False,
        "invocations": 2,
    }


@pytest.mark.parametrize("name", list(CASES))
def test_runtime_client_posts_handler_error_and_keeps_serving(
    runtime_api: RuntimeApiServer, start_runtime: StartRuntime, name: str
) -> None:
    case = CASES[name]
    start_runtime(case, runtime_api)

    failed = runtime_api.invoke({"fail": True, "name": "Ada"})
    assert failed.kind == "error", failed
    assert failed.body["errorType"] == "HelloError"
    assert failed.body["errorMessage"] == "asked to fail"

    after = runtime_api.invoke({"name": "Bo"})
    assert after.kind == "response", after
    assert after.body["message"] == "Hello, Bo!"
    assert after.body["coldStart"] is False


@pytest.mark.parametrize("name", list(CASES))
def test_runtime_client_reports_init_error_and_exits(
    runtime_api: RuntimeApiServer, start_runtime: StartRuntime, name: str
) -> None:
    proc = start_runtime(CASES[name], runtime_api, HELLO_FAIL_INIT="1")

    posted = runtime_api.state.posted.get(timeout=HANG_GUARD_S)
    assert posted.kind == "init_error", posted
    assert posted.body["errorType"]
    assert "asked to fail at init" in posted.body["errorMessage"]
    assert proc.wait(timeout=HANG_GUARD_S) != 0


@pytest.mark.parametrize("name", CUSTOM_RUNTIMES)
def test_runtime_client_reconnects_when_the_server_closes_each_connection(
    start_runtime: StartRuntime, name: str
) -> None:
    # aws-lambda-ric 4.x opens a connection per /next; Lamina may close idle ones.
    server = RuntimeApiServer(close_each=True)
    with serving(server):
        start_runtime(CASES[name], server)
        for i in range(3):
            answer = server.invoke({"name": str(i)})
            assert answer.body["message"] == f"Hello, {i}!"
            assert answer.body["invocations"] == i + 1
        # Every /next so far (the runtime may already wait on a 4th) came on its own connection.
        ports = list(server.state.next_ports)
        assert len(ports) >= 3
        assert len(set(ports)) == len(ports)


def test_rust_bootstrap_reads_a_chunked_next_answer(start_runtime: StartRuntime) -> None:
    server = RuntimeApiServer(chunked_next=True)
    with serving(server):
        start_runtime(CASES["hello-rust"], server)
        assert (
            server.invoke({"name": "Chunk" * 1000}).body["message"] == f"Hello, {'Chunk' * 1000}!"
        )
        assert server.invoke({"name": "again"}).body["invocations"] == 2


def test_build_tools_are_on_this_machine() -> None:
    # A clear message beats a confusing build failure when the setup step was skipped.
    missing = [
        tool for tool in ("npm", "cmake", "autoreconf", "libtoolize") if not shutil.which(tool)
    ]
    assert not missing, f"run scripts/install-system-deps.sh (missing: {missing})"


def test_rust_example_unit_tests_pass(built_examples: Path) -> None:
    # Same private CARGO_HOME and offline Debian registry as the build script.
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    env = dict(os.environ)
    env["CARGO_HOME"] = str(REPO / "build" / "cargo-home")
    env["CARGO_TARGET_DIR"] = str(REPO / "build" / "rust-target" / "hello-rust")
    env["PATH"] = f"{Path(cargo).parent}:{env.get('PATH', '')}"
    result = subprocess.run(
        [cargo, "test", "--offline", "--locked"],
        cwd=REPO / "examples" / "hello" / "rust",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
