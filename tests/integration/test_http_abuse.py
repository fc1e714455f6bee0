"""The HTTP front and the log path under abuse, against a real ``lamina serve``.

Each test resets the server's peak-RSS counter (``/proc/<pid>/clear_refs``), does its
damage, and asserts the peak (``VmHWM``) grew by far less than the damage would cost if
it were held in memory - generous margins, no timings - and that the server still
answers normally afterwards.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.integration.harness import LaminaProcess, api_error, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

MIB = 1024 * 1024
KEY, SECRET = "AKIDABUSE", "abuse-secret"
INVOKE = "/2015-03-31/functions/{}/invocations"


# -- a server whose memory we watch ----------------------------------------------------
def start(tmp: Path, env: dict[str, str]) -> LaminaProcess:
    timeouts = {"LAMINA_HTTP_HEADER_TIMEOUT_S": "1", "LAMINA_HTTP_BODY_TIMEOUT_S": "1"}
    # The server logs refusals: the harness keeps reading them, so its pipe never fills.
    return LaminaProcess(tmp, {**timeouts, **env}).start()


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    server = start(tmp_path_factory.mktemp("abuse-dev"), {})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    server = start(
        tmp_path_factory.mktemp("abuse-signed"), {"LAMINA_ACCESS_KEYS": f"{KEY}:{SECRET}"}
    )
    yield server
    server.stop()


def status_kib(server: LaminaProcess, field: str) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")


class Peak:
    """The growth of the server's peak RSS over a ``with`` block, in MiB."""

    def __init__(self, server: LaminaProcess) -> None:
        self.server = server
        self.growth_mib = 0.0

    def __enter__(self) -> Peak:
        assert self.server.proc is not None
        Path(f"/proc/{self.server.proc.pid}/clear_refs").write_text("5")  # reset VmHWM
        self.before = status_kib(self.server, "VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth_mib = (status_kib(self.server, "VmHWM") - self.before) / 1024
        print(f"peak RSS growth: {self.growth_mib:+.1f} MiB (from {self.before / 1024:.1f} MiB)")


def connect(server: LaminaProcess) -> socket.socket:
    host, port = server.endpoint.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answer(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """One response (Content-Length framed) from ``sock``; leftovers stay in ``buf``."""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before an answer")
        buf += data
    head = bytes(buf[:end]).decode("latin-1")
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    while len(buf) < end + 4 + length:
        data = sock.recv(1 << 20)
        if not data:
            raise ConnectionError("closed inside an answer")
        buf += data
    body = bytes(buf[end + 4 : end + 4 + length])
    del buf[: end + 4 + length]
    return int(head.split(" ")[1]), body


def stream_until_answered(sock: socket.socket, head: bytes, total: int, piece: bytes) -> bytes:
    """Send ``head`` then up to ``total`` body bytes; stop as soon as an answer arrives."""
    sock.sendall(head)
    sent = 0
    sock.setblocking(False)
    try:
        while sent < total:
            try:
                answer = sock.recv(65536)
                if answer:
                    return answer
            except BlockingIOError:
                pass
            try:
                sent += sock.send(piece)
            except BlockingIOError:
                time.sleep(0.001)
    finally:
        sock.setblocking(True)
    return sock.recv(65536)


def healthy(server: LaminaProcess) -> None:
    sock = connect(server)
    sock.sendall(b"GET /lamina/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_answer(sock, bytearray())[0] == 200
    sock.close()


# -- the head ---------------------------------------------------------------------------
def test_oversize_and_too_many_headers_are_431(dev: LaminaProcess) -> None:
    with Peak(dev) as peak:
        for head in (
            b"GET /lamina/v1/health HTTP/1.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
            b"GET /lamina/v1/health HTTP/1.1\r\n" + b"X-A: b\r\n" * 10_000 + b"\r\n",
        ):
            sock = connect(dev)
            # Refused before it is all sent, perhaps: the answer is there all the same.
            with contextlib.suppress(ConnectionError):
                sock.sendall(head)
            status, body = read_answer(sock, bytearray())
            assert status == 431 and b"Request Header Fields Too Large" in body
            assert sock.recv(1) == b""  # and closed
            sock.close()
    assert peak.growth_mib < 20
    healthy(dev)


def test_slow_senders_are_cut_off_with_408(dev: LaminaProcess) -> None:
    socks = [connect(dev) for _ in range(50)]
    for sock in socks:
        sock.sendall(b"GET /lamina/v1/health HTTP/1.1\r\nX-Slow: ")  # and then nothing
    for sock in socks:
        status, _ = read_answer(sock, bytearray())  # the 1 s header timeout, then 408
        assert status == 408
        assert sock.recv(1) == b""
        sock.close()
    healthy(dev)


def test_a_body_trickled_below_the_minimum_rate_is_cut_off_with_408(dev: LaminaProcess) -> None:
    # One byte every 0.1 s never leaves the connection idle, but is far below the minimum
    # rate (500 bytes/s after the 1 s body timeout): the server answers 408 and closes.
    sock = connect(dev)
    sock.sendall(b"POST " + INVOKE.format("slow").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 100000\r\n\r\n")  # fmt: skip
    answered = False
    for _ in range(600):  # a minute at most
        readable, _, _ = select.select([sock], [], [], 0.1)
        if readable:
            answered = True
            break
        sock.sendall(b"{")
    assert answered
    status, _ = read_answer(sock, bytearray())
    assert status == 408
    assert sock.recv(1) == b""
    sock.close()
    healthy(dev)


# -- bodies -----------------------------------------------------------------------------
def test_a_200_mb_chunk_is_refused_once_past_the_limit_without_holding_it(
    dev: LaminaProcess,
) -> None:
    head = (
        b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % (200 * MIB)
    )
    with Peak(dev) as peak:
        sock = connect(dev)
        answer = stream_until_answered(sock, head, 199 * MIB, b"x" * MIB)
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"RequestTooLargeException" in answer
    # Up to the 70 MB request limit is a body Lamina accepts; past it nothing more is
    # held (the old parser waited for the whole 200 MB chunk before looking).
    assert peak.growth_mib < 70 + 40
    healthy(dev)


def test_unsigned_floods_in_signed_mode_are_refused_from_the_head(signed: LaminaProcess) -> None:
    path = INVOKE.format("anything").encode()
    heads = (
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (60 * MIB),
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (200 * MIB),
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % (200 * MIB),
    )
    with Peak(signed) as peak:
        for head in heads:
            sock = connect(signed)
            answer = stream_until_answered(sock, head, 60 * MIB, b"x" * MIB)
            sock.close()
            assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]
            assert b"MissingAuthenticationTokenException" in answer
    assert peak.growth_mib < 40
    # Signed requests are still served.
    client = boto3.client(
        "lambda",
        endpoint_url=signed.endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 0}),
    )
    assert client.list_functions()["Functions"] == []
    bad = boto3.client(
        "lambda",
        endpoint_url=signed.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDUNKNOWN",
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 0}),
    )
    code, status, _ = api_error(lambda: bad.invoke(FunctionName="f", Payload=b"x" * MIB))
    assert (code, status) == ("UnrecognizedClientException", 403)


# -- JSON -------------------------------------------------------------------------------
def test_deep_json_is_invalid_request_content(dev: LaminaProcess) -> None:
    dev.create("deep-echo", python_zip("def handler(event, context):\n    return event\n"))
    deep = b"[" * 100_000 + b"]" * 100_000
    with Peak(dev) as peak:
        sock = connect(dev)
        buf = bytearray()
        for path in (INVOKE.format("deep-echo"), "/2015-03-31/functions"):
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(deep)}\r\n\r\n".encode()
                + deep
            )
            status, body = read_answer(sock, buf)
            assert status == 400, body
            error = json.loads(body)
            assert error["Type"] == "User"
            assert (
                "Document nesting depth (100000) exceeds the maximum allowed (512)"
                in (error["message"])
            )
        sock.close()
    assert peak.growth_mib < 20
    fine = json.loads(b"[" * 500 + b"1" + b"]" * 500)
    assert dev.invoke("deep-echo", fine, tail=False).json() == fine


# -- pipelining and back-pressure -------------------------------------------------------
def test_ten_thousand_pipelined_requests(dev: LaminaProcess) -> None:
    sock = connect(dev)
    request = b"GET /lamina/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
    sender = threading.Thread(target=sock.sendall, args=(request * 10_000,))
    sender.start()
    buf = bytearray()
    statuses = [read_answer(sock, buf)[0] for _ in range(10_000)]
    sender.join()
    sock.close()
    assert statuses == [200] * 10_000


def test_a_client_that_never_reads_does_not_grow_the_server(dev: LaminaProcess) -> None:
    dev.create("big-answer", python_zip("def handler(event, context):\n    return 'x' * 200000\n"))
    dev.invoke("big-answer", tail=False)  # warm
    request = f"POST {INVOKE.format('big-answer')} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode()
    with Peak(dev) as peak:
        socks = [connect(dev) for _ in range(4)]
        for sock in socks:
            sock.sendall(request * 400)  # 1,600 answers of 200 KB: 320 MB if all were held
        time.sleep(3)  # let the server do all it is willing to do without readers
        stalled = status_kib(dev, "VmHWM")
    assert (stalled - peak.before) / 1024 < 60
    # Nothing was lost: every answer comes once the client reads.
    for sock in socks:
        buf = bytearray()
        answers = [read_answer(sock, buf) for _ in range(400)]
        assert all(status == 200 and len(body) == 200_002 for status, body in answers)
        sock.close()


# -- logs -------------------------------------------------------------------------------
def test_a_400_mb_log_flood_does_not_grow_the_server(dev: LaminaProcess) -> None:
    flood = python_zip(
        "import sys\n"
        "def handler(event, context):\n"
        "    block = ('x' * 99 + '\\n') * 10000\n"
        "    for _ in range(400):\n"
        "        sys.stdout.write(block)\n"
        "    sys.stdout.flush()\n"
        "    return 'done'\n"
    )
    dev.create("flood", flood, Timeout=300, MemorySize=256)
    with Peak(dev) as peak:
        result = dev.invoke("flood", client=dev.lambda_client(read_timeout=300))
    assert result.status == 200 and result.json() == "done", result.payload
    assert peak.growth_mib < 50  # was +320..450 MB
    assert len(result.log) < 8192  # the Tail stays a tail
    # Back-pressure, not dropping: every one of the 4,000,000 lines reaches the log stream.
    folder = dev.data_dir / "logs" / "flood"
    deadline = time.monotonic() + 60
    flood_bytes = 4_000_000 * len("1733360000000\t" + "x" * 99 + "\n")  # ms stamp, tab, line
    while sum(p.stat().st_size for p in folder.glob("*.log")) < flood_bytes:
        assert time.monotonic() < deadline, "the flood did not reach the log files"
        time.sleep(0.2)
    lines = 0
    for path in folder.glob("*.log"):
        with path.open("rb") as fh:
            lines += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    assert lines >= 4_000_000
