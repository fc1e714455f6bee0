"""The Python bootstrap's HTTP client against a scripted Runtime API over a real socket.

Each test plays the server's side byte by byte: answers split across writes, chunked and
close-delimited answers, large events, and the pipelined ``GET /next`` that goes out in the
same write as an answer's ``POST``.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.runtimes.fake_runtime_api import RuntimeProcess, lambda_environment, run_runtime
from tests.runtimes.test_python_runtime import command, write

WAIT_S = 30.0  # a safety net against hangs, not a timing assertion
PREFIX = "/2018-06-01/runtime"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Connection:
    """The server's end of one runtime connection; requests are parsed from one buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the runtime closed the connection")
        self.buf += chunk

    def read(self) -> Request:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        first, *lines = head.decode("latin-1").split("\r\n")
        method, path, _ = first.split(" ")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return Request(method, path, headers, body)

    def send(self, *pieces: bytes) -> None:
        """Write each piece separately, with a pause so the runtime reads them apart."""
        for n, piece in enumerate(pieces):
            if n:
                time.sleep(0.05)
            self.sock.sendall(piece)

    def close(self) -> None:
        self.sock.close()


class ScriptedApi:
    """A listening socket the test answers by hand."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(WAIT_S)
        self.open: list[Connection] = []

    @property
    def address(self) -> str:
        host, port = self.server.getsockname()[:2]
        return f"{host}:{port}"

    def accept(self) -> Connection:
        sock, _ = self.server.accept()
        sock.settimeout(WAIT_S)
        conn = Connection(sock)
        self.open.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.open:
            conn.close()
        self.server.close()


@contextmanager
def scripted_runtime(tmp_path: Path, app: str) -> Iterator[tuple[ScriptedApi, RuntimeProcess]]:
    task = write(tmp_path / "task", {"app.py": app})
    api = ScriptedApi()
    try:
        env = lambda_environment(api, task, "app.handler")  # type: ignore[arg-type]
        with run_runtime(command().argv, env, task, tmp_path / "logs") as rt:
            yield api, rt
    finally:
        api.close()


def event_head(request_id: str, length: int | None, *extra: str) -> bytes:
    lines = [
        "HTTP/1.1 200 OK",
        "Content-Type: application/json",
        f"Lambda-Runtime-Aws-Request-Id: {request_id}",
        f"Lambda-Runtime-Deadline-Ms: {int(time.time() * 1000) + 60_000}",
        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:fn",
        "Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        *extra,
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


ACCEPTED = b'HTTP/1.1 202 Accepted\r\nContent-Length: 15\r\n\r\n{"status":"OK"}'
ECHO = "def handler(event, context):\n    return {'id': context.aws_request_id, 'got': event}\n"


def expect_next(conn: Connection) -> None:
    request = conn.read()
    assert (request.method, request.path) == ("GET", f"{PREFIX}/invocation/next")


def expect_answer(conn: Connection, request_id: str, kind: str = "response") -> object:
    request = conn.read()
    assert (request.method, request.path) == ("POST", f"{PREFIX}/invocation/{request_id}/{kind}")
    return json.loads(request.body)


def test_the_next_get_goes_out_before_the_answer_is_acknowledged(tmp_path: Path) -> None:
    """The server reads the POST *and* the GET before it sends the 202: a runtime that
    waited for the 202 first would never get its second event."""
    with scripted_runtime(tmp_path, ECHO) as (api, rt):
        conn = api.accept()
        expect_next(conn)
        conn.send(event_head("r1", 7) + b'"first"')
        assert expect_answer(conn, "r1") == {"id": "r1", "got": "first"}
        expect_next(conn)
        # The acknowledgement and the next event in one write: both are read from one buffer.
        conn.send(ACCEPTED + event_head("r2", 8) + b'"second"')
        assert expect_answer(conn, "r2") == {"id": "r2", "got": "second"}
        expect_next(conn)
        # The same 202 again (taken without parsing), then one that differs: still noticed.
        conn.send(ACCEPTED + event_head("r3", 7) + b'"third"')
        assert expect_answer(conn, "r3") == {"id": "r3", "got": "third"}
        expect_next(conn)
        conn.send(b'HTTP/1.1 409 Conflict\r\nContent-Length: 15\r\n\r\n{"status":"no"}')
        conn.send(event_head("r4", 6) + b'"last"')
        assert expect_answer(conn, "r4") == {"id": "r4", "got": "last"}
        assert len(api.open) == 1
        assert """refused the answer for r3: 409 b'{"status":"no"}'""" in rt.stderr()


def test_a_head_split_across_reads_and_a_large_event(tmp_path: Path) -> None:
    app = """
import hashlib
def handler(event, context):
    return {"n": len(event), "sha": hashlib.sha256(event.encode()).hexdigest(),
            "arn": context.invoked_function_arn}
"""
    text = "x" * (5 * 1024 * 1024)
    body = json.dumps(text).encode()
    with scripted_runtime(tmp_path, app) as (api, _rt):
        conn = api.accept()
        expect_next(conn)
        head = event_head("big", len(body))
        # The head ends in the middle of its blank line; the body comes in three writes.
        conn.send(head[:-3], head[-3:] + body[:1000], body[1000:2_000_000], body[2_000_000:])
        answer = expect_answer(conn, "big")
        assert answer == {
            "n": len(text),
            "sha": hashlib.sha256(text.encode()).hexdigest(),
            "arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        }


def test_a_chunked_event_with_trailers_then_another_on_the_same_connection(
    tmp_path: Path,
) -> None:
    with scripted_runtime(tmp_path, ECHO) as (api, _rt):
        conn = api.accept()
        expect_next(conn)
        head = event_head("c1", None, "Transfer-Encoding: chunked")
        conn.send(
            head + b'4;ext=1\r\n{"a"', b"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n", b"\r\n"
        )
        assert expect_answer(conn, "c1") == {"id": "c1", "got": {"a": 1}}
        expect_next(conn)
        # Nothing of the first answer (its trailer) is left over to spoil the second.
        conn.send(ACCEPTED, event_head("c2", 2) + b"[]")
        assert expect_answer(conn, "c2") == {"id": "c2", "got": []}
        assert len(api.open) == 1


@pytest.mark.parametrize("ending", ["connection-close", "close-delimited"])
def test_the_next_get_is_sent_again_when_the_connection_ends_after_the_202(
    tmp_path: Path, ending: str
) -> None:
    with scripted_runtime(tmp_path, ECHO) as (api, _rt):
        conn = api.accept()
        expect_next(conn)
        conn.send(event_head("e1", 2) + b"{}")
        assert expect_answer(conn, "e1") == {"id": "e1", "got": {}}
        expect_next(conn)  # the pipelined one, which this server will never answer
        if ending == "connection-close":
            conn.send(b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
        else:  # no Content-Length: the body runs to the end of the connection
            conn.send(b"HTTP/1.1 202 Accepted\r\n\r\n{}")
        conn.close()
        again = api.accept()
        expect_next(again)
        again.send(event_head("e2", 3) + b'"x"')
        assert expect_answer(again, "e2") == {"id": "e2", "got": "x"}


def test_an_error_answer_is_pipelined_too(tmp_path: Path) -> None:
    app = "def handler(event, context):\n    raise KeyError(event)\n"
    with scripted_runtime(tmp_path, app) as (api, rt):
        conn = api.accept()
        expect_next(conn)
        conn.send(event_head("x1", 5) + b'"key"')
        request = conn.read()
        assert (request.method, request.path) == ("POST", f"{PREFIX}/invocation/x1/error")
        assert request.headers["content-type"] == "application/json"
        body = json.loads(request.body)
        assert (body["errorType"], body["errorMessage"], body["requestId"]) == (
            "KeyError",
            "'key'",
            "x1",
        )
        expect_next(conn)
        # A refused answer is logged, and the loop goes on with the next event.
        conn.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope" + event_head("x2", 2))
        conn.send(b"{}")
        assert expect_answer(conn, "x2", "error")["requestId"] == "x2"  # type: ignore[index]
        assert "Runtime API refused the answer for x1: 403 b'nope'" in rt.stderr()
