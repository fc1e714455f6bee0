"""Response streaming end to end: boto3's invoke_with_response_stream, curl -N on a
RESPONSE_STREAM function URL, a custom runtime streaming over raw HTTP, Node's
streamifyResponse.

"Arrives while the function still runs" is checked with timestamps, never durations:
each piece carries the function's clock when it was written, and the client notes its
own clock when the piece arrived; piece i must arrive before piece i+1 was written.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

import pytest

from lamina.client.http import Client
from tests.integration.harness import (
    EXAMPLES,
    Invocation,
    LaminaProcess,
    api_error,
    python_zip,
    zip_files,
)

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

# A custom runtime in bash: raw HTTP over /dev/tcp, a chunked POST in streaming mode.
# Each piece is "<n>@<epoch seconds when written>;". An event {"fail": true} ends the
# stream with the error trailers; {"sleep": true} streams one piece and hangs (timeout).
SHELL_BOOTSTRAP = r"""#!/bin/bash
API=$AWS_LAMBDA_RUNTIME_API
HOST=${API%:*}
PORT=${API##*:}
chunk() { printf '%x\r\n%s\r\n' "${#1}" "$1" >&3; }
while :; do
  exec 3<>"/dev/tcp/$HOST/$PORT"
  printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rt\r\nConnection: close\r\n\r\n' >&3
  RID=""
  LEN=0
  while IFS= read -r line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case "${line,,}" in
      lambda-runtime-aws-request-id:*) RID=${line#*: } ;;
      content-length:*) LEN=${line#*: } ;;
    esac
  done
  EVENT=""
  [ "$LEN" -gt 0 ] && read -r -N "$LEN" EVENT <&3
  exec 3<&-
  exec 3<>"/dev/tcp/$HOST/$PORT"
  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: rt\r\nLambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nTrailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\nConnection: close\r\n\r\n' "$RID" >&3
  for i in 1 2 3; do
    chunk "$i@$EPOCHREALTIME;"
    case "$EVENT" in *sleep*) sleep 30 ;; esac
    sleep 0.2
  done
  case "$EVENT" in
    *fail*)
      BODY=$(printf '{"errorMessage":"went wrong mid-stream","errorType":"StreamError"}' | base64 -w0)
      printf '0\r\nLambda-Runtime-Function-Error-Type: StreamError\r\nLambda-Runtime-Function-Error-Body: %s\r\n\r\n' "$BODY" >&3 ;;
    *) printf '0\r\n\r\n' >&3 ;;
  esac
  cat <&3 >/dev/null
  exec 3<&-
done
"""


def _shell_function(lamina: LaminaProcess, name: str, timeout: int = 10) -> None:
    lamina.create(
        name,
        zip_files({"bootstrap": SHELL_BOOTSTRAP}, executable=("bootstrap",)),
        runtime="provided.al2023",
        handler="bootstrap",
        Timeout=timeout,
    )


def _stream(
    lamina: LaminaProcess, name: str, payload: object, **extra: Any
) -> tuple[list[tuple[float, bytes]], dict[str, Any], dict[str, Any]]:
    """(PayloadChunks with their arrival times, InvokeComplete, the response)."""
    out = lamina.lambda_client().invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps(payload).encode(), **extra
    )
    chunks: list[tuple[float, bytes]] = []
    complete: dict[str, Any] = {}
    for event in out["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append((time.time(), event["PayloadChunk"]["Payload"]))
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    return chunks, complete, out


def _pieces(data: bytes) -> list[tuple[str, float]]:
    out = []
    for piece in data.decode().split(";"):
        if piece:
            n, _, at = piece.partition("@")
            out.append((n, float(at)))
    return out


def test_boto3_reads_payload_chunks_as_a_custom_runtime_writes_them(
    lamina: LaminaProcess,
) -> None:
    _shell_function(lamina, "stream-shell")
    chunks, complete, out = _stream(lamina, "stream-shell", {}, LogType="Tail")
    assert out["StatusCode"] == 200
    assert out["ExecutedVersion"] == "$LATEST"
    pieces = [(arrived, p) for arrived, data in chunks for p in _pieces(data)]
    assert [p[0] for _, p in pieces] == ["1", "2", "3"]
    assert len(chunks) >= 3, chunks  # one event per piece written, not one at the end
    for (arrived, _), (_, (_, written_next)) in pairwise(pieces):
        assert arrived < written_next, "a piece arrived only after the next was written"
    assert "ErrorCode" not in complete
    log = base64.b64decode(complete["LogResult"]).decode()
    report = Invocation(200, b"", None, log, None).report()
    # The invoke (and the bill) lasts as long as the stream: at least from the first
    # piece written to the last.
    span_ms = (pieces[-1][1][1] - pieces[0][1][1]) * 1000
    assert float(report["duration"] or 0) >= span_ms
    assert int(report["billed"] or 0) >= span_ms
    # The ledger (what `lamina cost` bills) holds that invoke with the REPORT's figures.
    rows = Client(lamina.endpoint).call("GET", "/lamina/v1/ledger?function=stream-shell")
    (group,) = rows["groups"]
    assert group["invocations"] == 1
    assert group["billed_ms"] >= int(report["billed"] or 0)
    assert float(group["duration_ms"]) >= span_ms


def test_an_error_mid_stream_ends_with_invoke_complete_error(lamina: LaminaProcess) -> None:
    _shell_function(lamina, "stream-shell-fail")
    chunks, complete, _ = _stream(lamina, "stream-shell-fail", {"fail": True})
    assert [p[0] for _, data in chunks for p in _pieces(data)] == ["1", "2", "3"]
    assert complete["ErrorCode"] == "StreamError"
    assert complete["ErrorDetails"] == "went wrong mid-stream"
    # The environment is still usable, as after any handled error.
    _, again, _ = _stream(lamina, "stream-shell-fail", {})
    assert "ErrorCode" not in again


def test_a_stream_past_the_timeout_ends_with_a_timeout_error(lamina: LaminaProcess) -> None:
    _shell_function(lamina, "stream-shell-slow", timeout=1)
    chunks, complete, _ = _stream(lamina, "stream-shell-slow", {"sleep": True})
    assert [p[0] for _, data in chunks for p in _pieces(data)] == ["1"]
    assert complete["ErrorCode"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in complete["ErrorDetails"]


def test_a_rust_bootstrap_streams_chunks_written_over_time(lamina: LaminaProcess) -> None:
    zip_path = EXAMPLES / "streaming-rust.zip"
    assert zip_path.is_file(), f"{zip_path} missing: run `make examples`"
    lamina.create(
        "stream-rust", zip_path.read_bytes(), runtime="provided.al2023", handler="bootstrap"
    )
    chunks, complete, out = _stream(lamina, "stream-rust", {"chunks": 5, "gapMs": 100})
    assert out["StatusCode"] == 200
    pieces = [(arrived, p) for arrived, data in chunks for p in _pieces(data)]
    assert [p[0] for _, p in pieces] == ["1", "2", "3", "4", "5"]
    assert len(chunks) >= 5, chunks
    for (arrived, _), (_, (_, written_next)) in pairwise(pieces):
        assert arrived < written_next, "a piece arrived only after the next was written"
    assert "ErrorCode" not in complete
    # Its error trailers end the stream as AWS does.
    chunks, complete, _ = _stream(lamina, "stream-rust", {"chunks": 2, "fail": True})
    assert [p[0] for _, data in chunks for p in _pieces(data)] == ["1", "2"]
    assert complete["ErrorCode"] == "StreamError"
    assert complete["ErrorDetails"] == "asked to fail mid-stream"


def test_invoke_of_a_streaming_function_buffers_the_whole_body(lamina: LaminaProcess) -> None:
    _shell_function(lamina, "stream-shell-buffered")
    out = lamina.invoke("stream-shell-buffered", {})
    assert out.function_error is None
    assert [n for n, _ in _pieces(out.payload)] == ["1", "2", "3"]


def test_a_buffered_function_streams_as_one_chunk(lamina: LaminaProcess) -> None:
    lamina.create(
        "stream-buffered-py",
        python_zip("def handler(event, context):\n    return {'echo': event}\n"),
    )
    chunks, complete, _ = _stream(lamina, "stream-buffered-py", {"a": 1})
    assert b"".join(c for _, c in chunks) == b'{"echo": {"a": 1}}'
    assert complete == {} or "ErrorCode" not in complete
    failing = python_zip("def handler(event, context):\n    raise ValueError('nope')\n")
    lamina.create("stream-buffered-fail", failing)
    chunks, complete, _ = _stream(lamina, "stream-buffered-fail", {})
    assert chunks == []
    assert complete["ErrorCode"] == "ValueError"
    assert complete["ErrorDetails"] == "nope"


def test_invocation_type_event_is_refused_for_streaming(lamina: LaminaProcess) -> None:
    lamina.create(
        "stream-event-refused", python_zip("def handler(event, context):\n    return 1\n")
    )
    code, status, _ = api_error(
        lambda: lamina.lambda_client().invoke_with_response_stream(
            FunctionName="stream-event-refused", InvocationType="Event"
        )
    )
    assert (code, status) == ("InvalidParameterValueException", 400)


def test_curl_receives_a_response_stream_url_before_the_function_ends(
    lamina: LaminaProcess,
) -> None:
    _shell_function(lamina, "stream-url-shell")
    url = lamina.lambda_client().create_function_url_config(
        FunctionName="stream-url-shell", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )["FunctionUrl"]
    proc = subprocess.Popen(
        ["curl", "-sN", "-i", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = proc.stdout.read(1)
        assert byte, proc.stderr.read() if proc.stderr else b""
        head += byte
    arrivals: list[tuple[float, bytes]] = []
    buf = b""
    while len(arrivals) < 3:
        data = proc.stdout.read1(4096)  # type: ignore[attr-defined]
        if not data:
            break
        buf += data
        while b";" in buf:
            piece, _, buf = buf.partition(b";")
            arrivals.append((time.time(), piece + b";"))
    proc.wait(timeout=30)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"content-type: text/plain" in head.lower()
    pieces = [(arrived, _pieces(p)[0]) for arrived, p in arrivals]
    assert [p[0] for _, p in pieces] == ["1", "2", "3"]
    for (arrived, _), (_, (_, written_next)) in pairwise(pieces):
        assert arrived < written_next


def test_an_error_mid_stream_cuts_a_response_stream_urls_body_short(
    lamina: LaminaProcess,
) -> None:
    # The head (200) went out with the first piece: the error can no longer change the
    # status, so the connection closes without the chunked body's last chunk, and curl
    # says the transfer was cut short (exit 18). What was streamed before has arrived.
    _shell_function(lamina, "stream-url-fail")
    url = lamina.lambda_client().create_function_url_config(
        FunctionName="stream-url-fail", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )["FunctionUrl"]
    out = subprocess.run(
        ["curl", "-sN", "-i", "-X", "POST", "--data", '{"fail": true}', url],
        capture_output=True,
        timeout=30,
    )
    assert out.returncode == 18, (out.returncode, out.stdout, out.stderr)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert [n for n, _ in _pieces(body)] == ["1", "2", "3"]
    # The same URL without the failure ends its body properly.
    ok = subprocess.run(["curl", "-sN", url], capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert [n for n, _ in _pieces(ok.stdout)] == ["1", "2", "3"]


NODE_STREAMING = """
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const input = typeof event.body === 'string' ? JSON.parse(event.body) : event;
  if (input.http) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201,
      headers: { 'Content-Type': 'text/plain', 'X-Streamed': context.awsRequestId },
      cookies: ['a=1', 'b=2'],
    });
  } else {
    responseStream.setContentType('text/plain');
  }
  for (let i = 1; i <= 3; i++) {
    responseStream.write(`${i}@${Date.now() / 1000};`);
    await sleep(200);
  }
  if (input.fail) throw new TypeError('node broke mid-stream');
  responseStream.end();
});
"""


def _node_function(lamina: LaminaProcess, name: str) -> None:
    lamina.create(
        name,
        zip_files({"index.mjs": NODE_STREAMING}),
        runtime="nodejs20.x",
        handler="index.handler",
    )


def test_node_streamify_response_streams_to_boto3(lamina: LaminaProcess) -> None:
    _node_function(lamina, "stream-node")
    chunks, complete, _ = _stream(lamina, "stream-node", {})
    pieces = [(arrived, p) for arrived, data in chunks for p in _pieces(data)]
    assert [p[0] for _, p in pieces] == ["1", "2", "3"]
    for (arrived, _), (_, (_, written_next)) in pairwise(pieces):
        assert arrived < written_next
    assert "ErrorCode" not in complete
    chunks, complete, _ = _stream(lamina, "stream-node", {"fail": True})
    assert [p[0] for _, data in chunks for p in _pieces(data)] == ["1", "2", "3"]
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == (
        "TypeError",
        "node broke mid-stream",
    )
    # Warm again after the error: the same environment streams once more.
    _, complete, _ = _stream(lamina, "stream-node", {})
    assert "ErrorCode" not in complete


def test_node_http_response_stream_sets_status_headers_and_cookies(
    lamina: LaminaProcess,
) -> None:
    _node_function(lamina, "stream-node-url")
    url = lamina.lambda_client().create_function_url_config(
        FunctionName="stream-node-url", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )["FunctionUrl"]
    # The function reads {"http": true} from the URL's body.
    out = subprocess.run(
        ["curl", "-sN", "-i", "-X", "POST", "--data", '{"http": true}', url + "?q=1"],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    assert lines[0] == "http/1.1 201 created"
    assert "content-type: text/plain" in lines
    assert "set-cookie: a=1" in lines and "set-cookie: b=2" in lines
    assert any(line.startswith("x-streamed: ") for line in lines)
    assert [n for n, _ in _pieces(body)] == ["1", "2", "3"]


NODE_CRASHING_STREAM = """
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('before;');
  await new Promise((resolve) => setTimeout(resolve, 50));
  setTimeout(() => { throw new RangeError('crashed mid-stream'); }, 1);
  await new Promise(() => {});  // never settles: the uncaught exception ends the invoke
});
"""


def test_a_node_crash_mid_stream_ends_the_stream_with_its_error(lamina: LaminaProcess) -> None:
    lamina.create(
        "stream-node-crash",
        zip_files({"index.mjs": NODE_CRASHING_STREAM}),
        runtime="nodejs20.x",
        handler="index.handler",
    )
    chunks, complete, _ = _stream(lamina, "stream-node-crash", {})
    assert b"".join(data for _, data in chunks) == b"before;"
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == (
        "RangeError",
        "crashed mid-stream",
    )


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    server = LaminaProcess(
        tmp_path_factory.mktemp("stream-limit"), {"LAMINA_STREAM_RESPONSE_MAX_BYTES": "40"}
    ).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_stream_over_the_limit_is_cut_with_response_size_too_large(
    small_limit: LaminaProcess,
) -> None:
    _shell_function(small_limit, "stream-too-large")
    chunks, complete, _ = _stream(small_limit, "stream-too-large", {})
    # Each piece is ~20 bytes: the first fits in 40, the third does not.
    assert len([p for _, data in chunks for p in _pieces(data)]) < 3
    assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge"
    assert "(40 bytes)" in complete["ErrorDetails"]


def test_a_caller_that_goes_away_mid_stream_ends_the_invoke(lamina: LaminaProcess) -> None:
    _shell_function(lamina, "stream-abandoned", timeout=60)
    url = urlsplit(lamina.endpoint)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80)) as sock:
        sock.sendall(
            b"POST /2021-11-15/functions/stream-abandoned/response-streaming-invocations "
            b"HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n"
            b'{"sleep": true} '
        )
        got = b""
        while b"PayloadChunk" not in got:
            data = sock.recv(4096)
            assert data, got
            got += data
    # The abandoned invoke ends (its environment with it), long before its 30 s sleep.
    deadline = time.monotonic() + 20
    while True:
        envs = Client(lamina.endpoint).call("GET", "/lamina/v1/environments")["Environments"]
        busy = [e for e in envs if e["Function"] == "stream-abandoned" and e["State"] == "busy"]
        if not busy:
            break
        assert time.monotonic() < deadline, busy
        time.sleep(0.05)
    chunks, complete, _ = _stream(lamina, "stream-abandoned", {})
    assert [p[0] for _, data in chunks for p in _pieces(data)] == ["1", "2", "3"]
    assert "ErrorCode" not in complete


# Writes ``mb`` MiB, 1 MiB at a time, as fast as the stream takes them.
NODE_BULK = """
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const piece = Buffer.alloc(1024 * 1024, 120);
  for (let i = 0; i < event.mb; i++) {
    if (!responseStream.write(piece)) {
      await new Promise((resolve) => responseStream.once('drain', resolve));
    }
  }
  responseStream.end();
});
"""


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    server = LaminaProcess(
        tmp_path_factory.mktemp("stream-capped"),
        {"LAMINA_STREAM_BANDWIDTH_BYTES_S": str(1024 * 1024)},
    ).start()
    try:
        yield server
    finally:
        server.stop()


def test_past_6_mb_a_stream_goes_at_the_configured_bandwidth(capped: LaminaProcess) -> None:
    # 10 MiB at 1 MiB/s after the first 6: the last 4 MiB take about 4 s. Only the read
    # that crosses 6 MiB and the last one may hand on what piled up meanwhile (at most
    # ~1 MiB waits for a reader, plus what is in flight), so well over 1 MiB is held to
    # the cap between them: over 1 s, however fast the machine. Without the setting
    # reaching the stream the whole answer takes a fraction of that. (The cap's
    # arithmetic: tests/wire/test_streaming_wire.py.)
    capped.create(
        "stream-bulk",
        zip_files({"index.mjs": NODE_BULK}),
        runtime="nodejs20.x",
        handler="index.handler",
    )
    chunks, complete, _ = _stream(capped, "stream-bulk", {"mb": 10})
    assert "ErrorCode" not in complete
    sizes = [len(data) for _, data in chunks]
    assert sum(sizes) == 10 * 1024 * 1024
    crossing = next(i for i in range(len(sizes)) if sum(sizes[: i + 1]) > 6 * 1024 * 1024)
    assert chunks[-1][0] - chunks[crossing][0] >= 1.0, sizes
