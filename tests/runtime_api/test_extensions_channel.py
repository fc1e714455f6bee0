"""The Extensions API and streaming responses on a real :class:`RuntimeChannel`, over
raw HTTP on loopback (the same client as the Runtime API's tests)."""

from __future__ import annotations

import asyncio
import base64
import json

from lamina.runtime_api.channel import RuntimeChannel
from lamina.runtime_api.stream import ResponseStream
from tests.runtime_api.test_runtime_channel import BASE, RawClient, delivery, hand_over, run

EXT = "/2020-01-01/extension"


async def _register(channel: RuntimeChannel, events: list[str], name: str = "probe") -> str:
    client = await RawClient.connect(channel.address)
    answer = await client.call(
        "POST",
        f"{EXT}/register",
        json.dumps({"events": events}).encode(),
        {"Lambda-Extension-Name": name},
    )
    await client.close()
    assert answer.status == 200, answer.body
    assert answer.json() == {"functionName": "fn", "functionVersion": "$LATEST", "handler": "h"}
    return answer.headers["lambda-extension-identifier"]


def _channel() -> RuntimeChannel:
    return RuntimeChannel(("fn", "$LATEST", "h"))


def test_init_ends_only_when_the_runtime_and_every_extension_wait_on_next() -> None:
    async def test(channel: RuntimeChannel) -> None:
        ident = await _register(channel, ["INVOKE"])
        runtime = await RawClient.connect(channel.address)
        runtime.send("GET", f"{BASE}/invocation/next")
        await runtime.writer.drain()
        await asyncio.sleep(0.05)
        assert not channel.ready.done()  # the extension has not asked for its next event
        ext = await RawClient.connect(channel.address)
        ext.send("GET", f"{EXT}/event/next", headers={"Lambda-Extension-Identifier": ident})
        await ext.writer.drain()
        await asyncio.wait_for(asyncio.shield(channel.ready), 10)
        # An event goes to the runtime and, as INVOKE, to the extension.
        d = delivery()
        channel.deliver(d)
        assert (await runtime.read_answer()).status == 200
        event = (await ext.read_answer()).json()
        assert event["eventType"] == "INVOKE" and event["requestId"] == d.request_id
        assert event["invokedFunctionArn"] == d.function_arn
        assert not channel.extensions.all_settled()  # busy until it asks again
        ext.send("GET", f"{EXT}/event/next", headers={"Lambda-Extension-Identifier": ident})
        await ext.writer.drain()
        await asyncio.wait_for(channel.extensions.settled(), 10)
        # SHUTDOWN is queued for the extension, with a deadline.
        assert [e.name for e in channel.extensions.shutdown("spindown", 2.0)] == []
        await runtime.close()
        await ext.close()

    run(test, _channel)


def test_a_kept_alive_extension_parking_many_times_holds_one_lost_callback() -> None:
    # Each parked event/next used to register one more connection-lost callback, freed
    # only when the connection closed: a leak of one closure per invoke.
    async def test(channel: RuntimeChannel) -> None:
        ident = await _register(channel, ["INVOKE"])
        ext = await RawClient.connect(channel.address)
        headers = {"Lambda-Extension-Identifier": ident}
        extension = channel.extensions.by_id[ident]
        watchers = []
        for i in range(300):
            ext.send("GET", f"{EXT}/event/next", headers=headers)
            await ext.writer.drain()
            await asyncio.wait_for(channel.extensions.settled(), 10)
            parked = extension.parked
            assert parked is not None
            watchers.append(parked.lost_watchers)
            channel.extensions.invoke(f"req-{i}", 0, "arn", "trace")
            event = (await ext.read_answer()).json()
            assert event["requestId"] == f"req-{i}"
        assert max(watchers) == 1, watchers[-5:]
        # The one callback still does its job: a closed connection is forgotten.
        ext.send("GET", f"{EXT}/event/next", headers=headers)
        await ext.writer.drain()
        await asyncio.wait_for(channel.extensions.settled(), 10)
        await ext.close()
        for _ in range(100):
            if extension.parked is None:
                break
            await asyncio.sleep(0.02)
        assert extension.parked is None

    run(test, _channel)


def test_unknown_identifiers_bad_events_and_late_registration_are_refused() -> None:
    async def test(channel: RuntimeChannel) -> None:
        client = await RawClient.connect(channel.address)
        unknown = await client.call(
            "GET", f"{EXT}/event/next", headers={"Lambda-Extension-Identifier": "nope"}
        )
        assert unknown.status == 403
        bad = await client.call(
            "POST", f"{EXT}/register", b'{"events":["BOOT"]}', {"Lambda-Extension-Name": "x"}
        )
        assert bad.status == 400
        nameless = await client.call("POST", f"{EXT}/register", b'{"events":[]}')
        assert nameless.status == 400
        channel.extensions.init_closed = True
        late = await client.call(
            "POST", f"{EXT}/register", b'{"events":[]}', {"Lambda-Extension-Name": "x"}
        )
        assert (late.status, late.json()["errorType"]) == (403, "Extension.RegistrationError")
        await client.close()

    run(test, _channel)


def test_an_extensions_init_error_fails_init_with_lambdas_init_error() -> None:
    async def test(channel: RuntimeChannel) -> None:
        ident = await _register(channel, [])
        client = await RawClient.connect(channel.address)
        # The error type header is required (Lambda answers 403 without it).
        bare = await client.call(
            "POST", f"{EXT}/init/error", b"{}", {"Lambda-Extension-Identifier": ident}
        )
        assert (bare.status, bare.json()["errorType"]) == (403, "Extension.MissingHeader")
        assert not channel.init_failed.done()
        answer = await client.call(
            "POST",
            f"{EXT}/init/error",
            b'{"errorMessage":"no config","errorType":"Extension.ConfigInvalid"}',
            {
                "Lambda-Extension-Identifier": ident,
                "Lambda-Extension-Function-Error-Type": "Extension.ConfigInvalid",
            },
        )
        assert answer.status == 202
        failure = await asyncio.wait_for(asyncio.shield(channel.init_failed), 10)
        # Lambda's fatal error type; the extension's own is in the message.
        assert failure.error_type == "Extension.InitError"
        doc = json.loads(failure.body)
        assert doc["errorType"] == "Extension.InitError"
        assert "Extension.ConfigInvalid" in doc["errorMessage"]
        await client.close()

    run(test, _channel)


def test_an_exit_error_is_what_the_extensions_exit_then_fails_with() -> None:
    async def test(channel: RuntimeChannel) -> None:
        ident = await _register(channel, [])
        assert channel.extensions.exit_error_type() == "Extension.Crash"
        client = await RawClient.connect(channel.address)
        answer = await client.call(
            "POST",
            f"{EXT}/exit/error",
            b"{}",
            {
                "Lambda-Extension-Identifier": ident,
                "Lambda-Extension-Function-Error-Type": "Extension.LostItsBackend",
            },
        )
        assert answer.status == 202
        assert not channel.init_failed.done()  # it fails nothing until it exits
        assert channel.extensions.exit_error_type() == "Extension.ExitError"
        await client.close()

    run(test, _channel)


def test_a_streaming_response_flows_to_the_stream_and_ends_with_its_trailers() -> None:
    async def test(channel: RuntimeChannel) -> None:
        d = delivery()
        d.stream = stream = ResponseStream(1 << 20)
        client = await hand_over(channel, d)
        head = (
            f"POST {BASE}/invocation/{d.request_id}/response HTTP/1.1\r\nHost: x\r\n"
            "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
        )
        client.writer.write(head.encode() + b"5\r\nhello\r\n")
        await client.writer.drain()
        await asyncio.wait_for(asyncio.shield(stream.started), 10)
        assert stream.content_type == "text/plain"
        assert await asyncio.wait_for(stream.read(), 10) == b"hello"
        assert not d.answer.done()  # the invoke lasts as long as the stream
        body = base64.b64encode(b'{"errorMessage":"late","errorType":"Late"}').decode()
        client.writer.write(
            b"0\r\nLambda-Runtime-Function-Error-Type: Late\r\n"
            + f"Lambda-Runtime-Function-Error-Body: {body}\r\n\r\n".encode()
        )
        await client.writer.drain()
        answer = await client.read_answer()
        assert answer.status == 202
        result = await asyncio.wait_for(d.answer, 10)
        assert (result.ok, result.error_type) == (False, "Late")
        assert json.loads(result.body)["errorMessage"] == "late"
        assert await stream.read() is None
        await client.close()

    run(test)
