"""A real :class:`RuntimeChannel` on loopback, driven with raw HTTP over real sockets.

Each test runs its own event loop (``asyncio.run`` style, through a selector loop so the
transport is the standard one) and talks to the channel the way runtime clients do: one
keep-alive connection (awslambdaric) or a new connection per call (aws-lambda-ric 4.x).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from lamina.runtime_api import protocol
from lamina.runtime_api.channel import Delivery, RuntimeChannel
from lamina.wire.http import Request, render_response
from lamina.wire.server import HandlerResult, HttpConnection

BASE = "/2018-06-01/runtime"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:probe"
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


# -- a tiny raw HTTP client ------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class RawClient:
    """One TCP connection speaking HTTP/1.1 by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, address: str) -> RawClient:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port), limit=16 * 1024 * 1024)
        return cls(reader, writer)

    def send(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if method != "GET" or body:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    async def read_answer(self) -> Answer:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        return Answer(int(status_line.split(" ")[1]), headers, body)

    async def call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        self.send(method, path, body, headers)
        await self.writer.drain()
        return await asyncio.wait_for(self.read_answer(), 30)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def run(
    test: Callable[[RuntimeChannel], Awaitable[None]],
    channel_type: Callable[[], RuntimeChannel] = RuntimeChannel,
) -> None:
    """Run ``test`` against a started channel on a fresh selector event loop."""

    async def main() -> None:
        channel: RuntimeChannel = channel_type()
        await channel.start()
        try:
            await asyncio.wait_for(test(channel), 60)
        finally:
            channel.close()

    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        runner.run(main())


def delivery(
    request_id: str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
    payload: bytes = b'{"hello":"world"}',
    client_context: str | None = None,
    cognito_identity: str | None = None,
) -> Delivery:
    return Delivery(
        request_id=request_id,
        payload=payload,
        deadline_ms=int((time.time() + 30) * 1000),
        function_arn=ARN,
        trace_id=TRACE,
        client_context=client_context,
        cognito_identity=cognito_identity,
    )


async def wait_parked(channel: RuntimeChannel) -> None:
    """Wait until the channel has seen the first ``/next`` (it is then parked)."""
    await asyncio.wait_for(asyncio.shield(channel.ready), 10)
    # ready is set inside the handler that parks the connection, before it returns.
    await asyncio.sleep(0)


async def hand_over(channel: RuntimeChannel, d: Delivery) -> RawClient:
    """Deliver ``d`` and fetch it with ``/next`` on a new connection; returns that client."""
    channel.deliver(d)
    client = await RawClient.connect(channel.address)
    answer = await client.call("GET", f"{BASE}/invocation/next")
    assert answer.status == 200
    assert answer.headers["lambda-runtime-aws-request-id"] == d.request_id
    return client


# -- /next -----------------------------------------------------------------------------
def test_next_answer_carries_the_event_and_every_runtime_header() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery()
        channel.deliver(d)
        client = await RawClient.connect(channel.address)
        answer = await client.call("GET", f"{BASE}/invocation/next")
        now_ms = time.time() * 1000
        assert answer.status == 200
        assert answer.body == b'{"hello":"world"}'
        h = answer.headers
        assert h["content-type"] == "application/json"
        assert h["lambda-runtime-aws-request-id"] == d.request_id
        assert h["lambda-runtime-deadline-ms"] == str(d.deadline_ms)
        assert int(h["lambda-runtime-deadline-ms"]) > now_ms  # absolute epoch ms, ahead
        assert h["lambda-runtime-invoked-function-arn"] == ARN
        assert h["lambda-runtime-trace-id"] == TRACE
        # Empty optional headers are left out, not sent blank.
        assert "lambda-runtime-client-context" not in h
        assert "lambda-runtime-cognito-identity" not in h
        assert int(h["content-length"]) == len(answer.body)
        await client.close()

    run(body)


def test_client_context_and_cognito_headers_are_sent_only_when_given() -> None:
    ctx = '{"custom":{"k":"v"}}'
    ident = '{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}'

    async def body(channel: RuntimeChannel) -> None:
        client = await RawClient.connect(channel.address)
        channel.deliver(delivery(request_id="both", client_context=ctx, cognito_identity=ident))
        both = await client.call("GET", f"{BASE}/invocation/next")
        assert both.headers["lambda-runtime-client-context"] == ctx
        assert both.headers["lambda-runtime-cognito-identity"] == ident
        await client.call("POST", f"{BASE}/invocation/both/response", b"{}")
        channel.deliver(delivery(request_id="ctx-only", client_context=ctx))
        one = await client.call("GET", f"{BASE}/invocation/next")
        assert one.headers["lambda-runtime-client-context"] == ctx
        assert "lambda-runtime-cognito-identity" not in one.headers
        await client.close()

    run(body)


def test_a_parked_next_is_answered_when_an_event_is_delivered_later() -> None:
    async def body(channel: RuntimeChannel) -> None:
        client = await RawClient.connect(channel.address)
        client.send("GET", f"{BASE}/invocation/next")
        await client.writer.drain()
        await wait_parked(channel)
        pending = asyncio.ensure_future(client.read_answer())
        await asyncio.sleep(0.05)
        assert not pending.done(), "/next answered before any event existed"
        d = delivery(payload=b'{"late":true}')
        channel.deliver(d)
        answer = await asyncio.wait_for(pending, 10)
        assert answer.status == 200
        assert answer.body == b'{"late":true}'
        assert answer.headers["lambda-runtime-aws-request-id"] == d.request_id
        assert d.delivered_at > 0
        await client.close()

    run(body)


def test_an_event_delivered_before_next_is_handed_over_at_the_next_next() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery(payload=b'{"early":true}')
        channel.deliver(d)
        assert d.delivered_at == 0.0  # nobody has asked yet
        client = await RawClient.connect(channel.address)
        answer = await client.call("GET", f"{BASE}/invocation/next")
        assert answer.status == 200
        assert answer.body == b'{"early":true}'
        assert d.delivered_at > 0
        await client.close()

    run(body)


def test_keep_alive_runtime_serves_several_events_on_one_connection() -> None:
    async def body(channel: RuntimeChannel) -> None:
        client = await RawClient.connect(channel.address)
        for i in range(3):
            d = delivery(request_id=f"req-{i}", payload=json.dumps({"i": i}).encode())
            channel.deliver(d)
            event = await client.call("GET", f"{BASE}/invocation/next")
            assert event.json() == {"i": i}
            posted = await client.call(
                "POST", f"{BASE}/invocation/req-{i}/response", json.dumps(i * 10).encode()
            )
            assert posted.status == 202
            assert (await asyncio.wait_for(d.answer, 10)).body == str(i * 10).encode()
        await client.close()

    run(body)


def test_a_new_connection_per_next_and_per_answer_works() -> None:
    """aws-lambda-ric 4.x: a fresh connection for every ``/next``, answers on another."""

    async def body(channel: RuntimeChannel) -> None:
        for i in range(3):
            poller = await RawClient.connect(channel.address)
            poller.send("GET", f"{BASE}/invocation/next")
            await poller.writer.drain()
            if i == 0:
                await wait_parked(channel)
            else:
                await asyncio.sleep(0.02)  # let the parked /next reach the channel
            d = delivery(request_id=f"conn-{i}", payload=json.dumps({"n": i}).encode())
            channel.deliver(d)
            event = await asyncio.wait_for(poller.read_answer(), 10)
            assert event.headers["lambda-runtime-aws-request-id"] == f"conn-{i}"
            assert event.json() == {"n": i}
            await poller.close()
            answerer = await RawClient.connect(channel.address)
            posted = await answerer.call(
                "POST",
                f"{BASE}/invocation/conn-{i}/response",
                b'"ok"',
                {"Connection": "close"},
            )
            assert posted.status == 202
            await answerer.close()
            result = await asyncio.wait_for(d.answer, 10)
            assert result.ok and result.body == b'"ok"'

    run(body)


# -- /response and /error ----------------------------------------------------------------
def test_response_is_accepted_with_202_and_resolves_the_invocation() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery()
        client = await hand_over(channel, d)
        posted = await client.call(
            "POST", f"{BASE}/invocation/{d.request_id}/response", b'{"answer":42}'
        )
        assert posted.status == 202
        result = await asyncio.wait_for(d.answer, 10)
        assert result.ok is True
        assert result.body == b'{"answer":42}'
        assert result.error_type is None
        assert result.too_large is False
        assert result.at >= d.delivered_at > 0
        await client.close()

    run(body)


def test_a_second_response_for_the_same_request_is_403_invalid_state_transition() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery()
        client = await hand_over(channel, d)
        first = await client.call("POST", f"{BASE}/invocation/{d.request_id}/response", b"1")
        assert first.status == 202
        second = await client.call("POST", f"{BASE}/invocation/{d.request_id}/response", b"2")
        assert second.status == 403
        assert second.json()["errorType"] == "InvalidStateTransition"
        also_error = await client.call(
            "POST", f"{BASE}/invocation/{d.request_id}/error", b'{"errorMessage":"x"}'
        )
        assert also_error.status == 403
        assert (await d.answer).body == b"1"  # the first answer stands
        await client.close()

    run(body)


def test_an_answer_for_an_unknown_request_id_is_400() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery()
        client = await hand_over(channel, d)
        for verb in ("response", "error"):
            answer = await client.call("POST", f"{BASE}/invocation/no-such-id/{verb}", b"{}")
            assert answer.status == 400, verb
            assert answer.headers["content-type"] == "application/json"
            assert "no-such-id" in answer.json()["errorMessage"]
        assert not d.answer.done(), "a wrong id must not end the event in flight"
        await client.close()

    run(body)


def test_a_response_over_6_mib_plus_100_bytes_is_413_and_ends_the_invocation_too_large() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery()
        client = await hand_over(channel, d)
        big = b"x" * (6 * 1024 * 1024 + 101)
        posted = await client.call("POST", f"{BASE}/invocation/{d.request_id}/response", big)
        assert posted.status == 413
        assert posted.json()["errorType"] == "RequestEntityTooLarge"
        result = await asyncio.wait_for(d.answer, 10)
        assert result.ok is False
        assert result.too_large is True
        assert result.error_type == "Function.ResponseSizeTooLarge"
        # The connection is still usable afterwards.
        d2 = delivery(request_id="after-413")
        channel.deliver(d2)
        event = await client.call("GET", f"{BASE}/invocation/next")
        assert event.headers["lambda-runtime-aws-request-id"] == "after-413"
        await client.close()

    run(body)


def test_a_response_of_exactly_6_mib_plus_100_bytes_is_accepted() -> None:
    async def body(channel: RuntimeChannel) -> None:
        assert protocol.MAX_RESPONSE_BYTES == 6 * 1024 * 1024 + 100
        d = delivery()
        client = await hand_over(channel, d)
        exact = b"y" * (6 * 1024 * 1024 + 100)
        posted = await client.call("POST", f"{BASE}/invocation/{d.request_id}/response", exact)
        assert posted.status == 202
        result = await asyncio.wait_for(d.answer, 10)
        assert result.ok is True
        assert result.too_large is False
        assert len(result.body) == len(exact)
        await client.close()

    run(body)


def test_an_error_post_is_accepted_and_passes_the_error_type_header_through() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery()
        client = await hand_over(channel, d)
        err = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}
        posted = await client.call(
            "POST",
            f"{BASE}/invocation/{d.request_id}/error",
            json.dumps(err).encode(),
            {"Lambda-Runtime-Function-Error-Type": "Unhandled.ValueError"},
        )
        assert posted.status == 202
        result = await asyncio.wait_for(d.answer, 10)
        assert result.ok is False
        assert result.error_type == "Unhandled.ValueError"
        assert json.loads(result.body) == err
        await client.close()

    run(body)


def test_init_error_is_accepted_once_then_403() -> None:
    async def body(channel: RuntimeChannel) -> None:
        client = await RawClient.connect(channel.address)
        err = b'{"errorMessage":"No module named app","errorType":"Runtime.ImportModuleError"}'
        first = await client.call(
            "POST",
            f"{BASE}/init/error",
            err,
            {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
        )
        assert first.status == 202
        failure = await asyncio.wait_for(asyncio.shield(channel.init_failed), 10)
        assert failure.body == err
        assert failure.error_type == "Runtime.ImportModuleError"
        second = await client.call("POST", f"{BASE}/init/error", err)
        assert second.status == 403
        assert second.json()["errorType"] == "InvalidStateTransition"
        assert not channel.ready.done()
        await client.close()

    run(body)


def test_init_error_after_the_first_next_is_403() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery()
        client = await hand_over(channel, d)  # the runtime is past INIT now
        late = await client.call("POST", f"{BASE}/init/error", b'{"errorMessage":"late"}')
        assert late.status == 403
        assert not channel.init_failed.done()
        await client.close()

    run(body)


def test_a_chunked_response_is_accepted_and_an_oversized_one_is_413() -> None:
    def chunked(data: bytes, size: int) -> bytes:
        out = b"".join(
            f"{len(data[i : i + size]):x}\r\n".encode() + data[i : i + size] + b"\r\n"
            for i in range(0, len(data), size)
        )
        return out + b"0\r\n\r\n"

    async def body(channel: RuntimeChannel) -> None:
        client = await RawClient.connect(channel.address)
        small = delivery(request_id="chunked-ok")
        channel.deliver(small)
        await client.call("GET", f"{BASE}/invocation/next")
        ok = await client.call(
            "POST",
            f"{BASE}/invocation/chunked-ok/response",
            chunked(b'{"parts":[1,2,3]}', 5),
            {"Transfer-Encoding": "chunked"},
        )
        assert ok.status == 202
        assert (await asyncio.wait_for(small.answer, 10)).body == b'{"parts":[1,2,3]}'
        big = delivery(request_id="chunked-big")
        channel.deliver(big)
        await client.call("GET", f"{BASE}/invocation/next")
        too_big = await client.call(
            "POST",
            f"{BASE}/invocation/chunked-big/response",
            chunked(b"z" * (protocol.MAX_RESPONSE_BYTES + 1), 1024 * 1024),
            {"Transfer-Encoding": "chunked"},
        )
        assert too_big.status == 413
        result = await asyncio.wait_for(big.answer, 10)
        assert result.too_large and not result.ok
        await client.close()

    run(body)


def test_unknown_paths_and_wrong_methods_are_refused() -> None:
    async def body(channel: RuntimeChannel) -> None:
        client = await RawClient.connect(channel.address)
        assert (await client.call("POST", "/2018-06-01/runtime/nothing", b"{}")).status == 404
        assert (await client.call("GET", "/elsewhere")).status == 404
        assert (await client.call("POST", f"{BASE}/invocation/next", b"{}")).status == 405
        assert (await client.call("GET", f"{BASE}/invocation/x/response")).status == 405
        assert not channel.ready.done(), "a refused request must not count as the first /next"
        await client.close()

    run(body)


def test_a_next_whose_client_went_away_does_not_swallow_the_event() -> None:
    async def body(channel: RuntimeChannel) -> None:
        gone = await RawClient.connect(channel.address)
        gone.send("GET", f"{BASE}/invocation/next")
        await gone.writer.drain()
        await wait_parked(channel)
        await gone.close()
        # Wait until the server has seen the connection go (its parked /next is dropped).
        for _ in range(500):
            if channel._parked is None:
                break
            await asyncio.sleep(0.01)
        assert channel._parked is None
        d = delivery(request_id="survivor")
        channel.deliver(d)
        client = await RawClient.connect(channel.address)
        event = await client.call("GET", f"{BASE}/invocation/next")
        assert event.headers["lambda-runtime-aws-request-id"] == "survivor"
        await client.close()

    run(body)


def test_asking_for_the_next_event_without_answering_fails_the_current_one() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery(request_id="dropped")
        client = await hand_over(channel, d)
        client.send("GET", f"{BASE}/invocation/next")  # parks; d is abandoned
        await client.writer.drain()
        result = await asyncio.wait_for(d.answer, 10)
        assert result.ok is False
        assert result.error_type == "Runtime.InvalidResponse"
        await client.close()

    run(body)


def test_a_forgotten_event_answers_late_posts_with_403() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery(request_id="timed-out")
        client = await hand_over(channel, d)
        channel.forget("timed-out")  # the platform gave up (timeout)
        late = await client.call("POST", f"{BASE}/invocation/timed-out/response", b"{}")
        assert late.status == 403
        assert late.json()["errorType"] == "InvalidStateTransition"
        assert not d.answer.done()
        channel.deliver(delivery(request_id="next-one"))  # the channel is free again
        event = await client.call("GET", f"{BASE}/invocation/next")
        assert event.headers["lambda-runtime-aws-request-id"] == "next-one"
        await client.close()

    run(body)


def test_delivering_while_an_event_is_in_flight_is_refused() -> None:
    async def body(channel: RuntimeChannel) -> None:
        channel.deliver(delivery(request_id="first"))
        with pytest.raises(RuntimeError):
            channel.deliver(delivery(request_id="second"))

    run(body)


def test_close_cancels_unanswered_events() -> None:
    async def body(channel: RuntimeChannel) -> None:
        d = delivery()
        client = await hand_over(channel, d)
        channel.close()
        assert d.answer.cancelled()
        await client.close()

    run(body)


# -- how answers go out ------------------------------------------------------------------
class SpyChannel(RuntimeChannel):
    """Records the server side of every connection and every write made on it."""

    def __init__(self) -> None:
        super().__init__()
        self.connections: list[HttpConnection] = []
        self.writes: list[bytes] = []
        self.nodelay: list[int] = []

    def handle(self, req: Request, conn: HttpConnection) -> HandlerResult:
        if conn not in self.connections:
            self.connections.append(conn)
            transport: Any = conn._transport
            assert transport is not None
            sock: socket.socket = transport.get_extra_info("socket")
            self.nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            write = transport.write

            def counting_write(data: bytes) -> None:
                self.writes.append(bytes(data))
                write(data)

            transport.write = counting_write
        return super().handle(req, conn)


def test_the_next_answer_goes_out_in_one_write_on_a_nodelay_socket() -> None:
    payload = json.dumps({"blob": "z" * 50_000}).encode()

    async def body(channel: RuntimeChannel) -> None:
        assert isinstance(channel, SpyChannel)
        client = await RawClient.connect(channel.address)
        client.send("GET", f"{BASE}/invocation/next")
        await client.writer.drain()
        await wait_parked(channel)
        assert channel.nodelay == [1], "TCP_NODELAY is not set on the accepted socket"
        d = delivery(payload=payload)
        channel.deliver(d)  # answered from deliver(): the parked path
        answer = await asyncio.wait_for(client.read_answer(), 10)
        assert answer.body == payload
        assert len(channel.writes) == 1, f"answer split into {len(channel.writes)} writes"
        (only,) = channel.writes
        head, sep, rest = only.partition(b"\r\n\r\n")
        assert sep and head.startswith(b"HTTP/1.1 200")
        assert b"Lambda-Runtime-Aws-Request-Id" in head
        assert rest == payload
        # The posted answer's 202 is one write too.
        await client.call("POST", f"{BASE}/invocation/{d.request_id}/response", b"{}")
        assert len(channel.writes) == 2
        assert channel.writes[1].startswith(b"HTTP/1.1 202")
        assert channel.writes[1].endswith(b'{"status":"OK"}')
        await client.close()

    run(body, SpyChannel)


def test_rendered_event_answer_is_a_single_buffer_with_headers_and_body() -> None:
    response = protocol.event_response(b'{"k":1}', "rid", 1_700_000_000_000, ARN, TRACE, None, None)
    wire = response.render()
    assert isinstance(wire, bytes)
    head, _, body = wire.partition(b"\r\n\r\n")
    assert body == b'{"k":1}'
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Content-Type: application/json" in lines
    assert "Content-Length: 7" in lines
    assert "Lambda-Runtime-Deadline-Ms: 1700000000000" in lines
    assert not any(line.startswith("Lambda-Runtime-Client-Context") for line in lines)


# -- the 202 to a pipelined runtime goes out with its next event --------------------------
class PipelinedRuntime:
    """A runtime socket that writes its answer and its next ``GET /next`` in one write, as
    Lamina's Python runtime does, and reads with plain ``recv`` so read boundaries show."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def connect(cls, address: str) -> PipelinedRuntime:
        host, _, port = address.rpartition(":")
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return cls(sock)

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if method != "GET":
            head += f"Content-Length: {len(body)}\r\n"
        return (head + "\r\n").encode("latin-1") + body

    async def send(self, *requests: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, b"".join(requests))

    async def read(self) -> bytes:
        """One ``recv``: what arrived together."""
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 1 << 20), 10)

    def pending(self) -> bytes:
        """What can be read right now without waiting (b"" if nothing)."""
        try:
            return self.sock.recv(1 << 20)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        self.sock.close()


async def _answered_and_parked(channel: RuntimeChannel, d: Delivery) -> None:
    """Wait until the runtime's answer resolved ``d`` and its next ``/next`` is parked."""
    await asyncio.wait_for(asyncio.shield(d.answer), 10)
    for _ in range(1000):
        if channel._parked is not None:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the pipelined /next was not parked")


def test_a_pipelined_next_gets_the_202_and_the_next_event_in_one_read() -> None:
    async def body(channel: RuntimeChannel) -> None:
        assert isinstance(channel, SpyChannel)
        rt = await PipelinedRuntime.connect(channel.address)
        nxt = rt.request("GET", f"{BASE}/invocation/next")
        await rt.send(nxt)
        await wait_parked(channel)
        first = delivery("11111111-1111-4111-8111-111111111111")
        channel.deliver(first)
        assert b"11111111-1111-4111-8111-111111111111" in await rt.read()
        writes_before = len(channel.writes)
        post = rt.request("POST", f"{BASE}/invocation/{first.request_id}/response", b'{"ok":1}')
        await rt.send(post, nxt)  # the answer and the next /next in one write
        await _answered_and_parked(channel, first)
        assert (await first.answer).body == b'{"ok":1}'
        # The /next was there already: the 202 waits for the next event, nothing is sent.
        await asyncio.sleep(0.05)
        assert rt.pending() == b""
        assert len(channel.writes) == writes_before
        second = delivery("22222222-2222-4222-8222-222222222222", payload=b'{"n":2}')
        channel.deliver(second)
        data = await rt.read()
        ack, sep, event = data.partition(b'{"status":"OK"}')
        assert sep, data
        assert ack.startswith(b"HTTP/1.1 202 Accepted\r\n")
        assert event.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Lambda-Runtime-Aws-Request-Id: " + second.request_id.encode() in event
        assert event.endswith(b'\r\n\r\n{"n":2}'), "the event came in a later read"
        assert len(channel.writes) == writes_before + 1, "the 202 and the event: one write"
        rt.close()

    run(body, SpyChannel)


def test_a_runtime_that_waits_for_its_202_gets_it_at_once() -> None:
    async def body(channel: RuntimeChannel) -> None:
        rt = await PipelinedRuntime.connect(channel.address)
        nxt = rt.request("GET", f"{BASE}/invocation/next")
        await rt.send(nxt)
        await wait_parked(channel)
        d = delivery()
        channel.deliver(d)
        await rt.read()
        # The answer alone (AWS's clients wait for the 202 before asking again).
        await rt.send(rt.request("POST", f"{BASE}/invocation/{d.request_id}/response", b"{}"))
        ack = await rt.read()  # no event is delivered: the 202 must come on its own
        assert ack.startswith(b"HTTP/1.1 202 Accepted\r\n")
        assert ack.endswith(b'{"status":"OK"}')
        await rt.send(nxt)
        await wait_parked(channel)
        second = delivery("22222222-2222-4222-8222-222222222222")
        channel.deliver(second)
        assert (await rt.read()).startswith(b"HTTP/1.1 200 OK\r\n")
        rt.close()

    run(body)


def test_a_held_202_goes_out_on_flush_and_before_the_connection_is_closed() -> None:
    async def body(channel: RuntimeChannel) -> None:
        rt = await PipelinedRuntime.connect(channel.address)
        nxt = rt.request("GET", f"{BASE}/invocation/next")
        for request_id in (
            "11111111-1111-4111-8111-111111111111",
            "22222222-2222-4222-8222-222222222222",
        ):
            if request_id.startswith("1"):
                await rt.send(nxt)
                await wait_parked(channel)
            d = delivery(request_id)
            channel.deliver(d)
            assert (await rt.read()).startswith(b"HTTP/1.1 200 OK\r\n")
            post = rt.request("POST", f"{BASE}/invocation/{request_id}/response", b"{}")
            await rt.send(post, nxt)
            await _answered_and_parked(channel, d)
            assert rt.pending() == b""
            if request_id.startswith("1"):
                channel.flush()  # what the scheduler does before freezing the environment
                assert (await rt.read()).startswith(b"HTTP/1.1 202 Accepted\r\n")
                channel.flush()  # nothing held now: nothing sent
                await asyncio.sleep(0.02)
                assert rt.pending() == b""
        # Closing the channel (the environment ends) sends the held 202, then closes.
        channel.close()
        got = b""
        while chunk := await rt.read():
            got += chunk
        assert got.startswith(b"HTTP/1.1 202 Accepted\r\n")
        assert got.endswith(b'{"status":"OK"}')
        rt.close()

    run(body)


def test_a_refused_answer_is_not_held_behind_a_pipelined_next() -> None:
    async def body(channel: RuntimeChannel) -> None:
        rt = await PipelinedRuntime.connect(channel.address)
        nxt = rt.request("GET", f"{BASE}/invocation/next")
        await rt.send(nxt)
        await wait_parked(channel)
        channel.deliver(delivery())
        assert (await rt.read()).startswith(b"HTTP/1.1 200 OK\r\n")
        post = rt.request("POST", f"{BASE}/invocation/no-such-request/response", b"{}")
        await rt.send(post, nxt)
        answer = await rt.read()  # no event follows: the 400 must come on its own
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
        assert b"InvalidRequestID" in answer
        rt.close()

    run(body)


@pytest.mark.parametrize("client_context", [None, "eyJjdXN0b20iOnt9fQ=="])
@pytest.mark.parametrize("cognito_identity", [None, '{"cognitoIdentityId":"id"}'])
@pytest.mark.parametrize("payload", [b"", b'{"k":1}', "é".encode() * 1000])
@pytest.mark.parametrize("close", [False, True])
def test_the_event_answer_renders_the_same_bytes_as_the_generic_renderer(
    client_context: str | None, cognito_identity: str | None, payload: bytes, close: bool
) -> None:
    response = protocol.event_response(
        payload, "rid", 1_700_000_000_000, ARN, TRACE, client_context, cognito_identity
    )
    assert response.render(close) == render_response(200, response.headers, payload, close=close)
    assert response.headers["Lambda-Runtime-Aws-Request-Id"] == "rid"
    assert ("Lambda-Runtime-Client-Context" in response.headers) == bool(client_context)
