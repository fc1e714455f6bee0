"""Streaming and extensions, measured (a benchmark, not a test).

``python -m bench.streaming [--invokes N] [--rounds N]`` starts one ``lamina serve`` and
prints two Markdown tables:

* warm invoke latency (p50/p90 over N sequential invokes on one keep-alive connection)
  of a Python function with no extension, with one idle external extension (in a layer,
  registered
  for SHUTDOWN only), and with one registered for INVOKE too that asks for its next
  event at once (back to back, each invoke waits for it: the environment takes its next
  event only when every extension is done with the last);
* time to first byte of a Node function that writes 10 chunks over 1 s, streamed
  (``InvokeWithResponseStream``: the first ``PayloadChunk``'s bytes) and buffered
  (``Invoke``: the answer's first byte), and the time to the last byte of each.
"""

from __future__ import annotations

import argparse
import base64
import io
import socket
import sys
import time
import zipfile

from bench.rawhttp import render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path
from bench.stats import percentile

HELLO = "def handler(event, context):\n    return 1\n"
EXTENSION = """#!/usr/bin/env python3
import json, os, urllib.request
base = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
req = urllib.request.Request(base + "/register", method="POST",
    data=json.dumps({"events": EVENTS}).encode(),
    headers={"Lambda-Extension-Name": "idle"})
with urllib.request.urlopen(req) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
while True:
    nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
    with urllib.request.urlopen(nxt) as r:
        if json.load(r)["eventType"] == "SHUTDOWN":
            break
"""
TEN_CHUNKS = """
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const streamed = awslambda.streamifyResponse(async (event, stream) => {
  for (let i = 0; i < 10; i++) { stream.write(`chunk ${i}\\n`); await sleep(100); }
  stream.end();
});
export const buffered = async () => {
  let out = '';
  for (let i = 0; i < 10; i++) { out += `chunk ${i}\\n`; await sleep(100); }
  return out;
};
"""


def zip_of(files: dict[str, str], executable: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            zf.writestr(info, files[name])
    return buf.getvalue()


def first_and_last_byte(host: str, port: int, request: bytes) -> tuple[float, float]:
    """Seconds from sending ``request`` to the first byte of the body and to the end
    (the server closes the connection: ``Connection: close``)."""
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        sock.sendall(request)
        buf = b""
        first = 0.0
        while True:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
            if not first and b"\r\n\r\n" in buf and len(buf) > buf.index(b"\r\n\r\n") + 4:
                first = time.perf_counter() - t0
        return first, time.perf_counter() - t0


def warm_latencies(server: LaminaServer, name: str, count: int) -> list[float]:
    api = server.api()
    try:
        for _ in range(5):
            api.invoke(name, b"{}", tail=False)
        out = []
        for _ in range(count):
            t0 = time.perf_counter()
            answer = api.invoke(name, b"{}", tail=False)  # anything but a 200 raises
            out.append((time.perf_counter() - t0) * 1000)
            assert answer.function_error is None, answer.payload
        return out
    finally:
        api.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invokes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with LaminaServer() as server:
        api = server.api()
        api.create_function(
            "bench-none",
            zip_of({"app.py": HELLO}),
            "python3.12",
            "app.handler",
            timeout_s=TIMEOUT_S,
        )
        for name, events in (
            ("bench-idle", '["SHUTDOWN"]'),
            ("bench-invoke", '["INVOKE", "SHUTDOWN"]'),
        ):
            ext = EXTENSION.replace("EVENTS", events)
            layer = zip_of({"extensions/ext": ext}, ("extensions/ext",))
            published = api.call(
                "POST",
                f"/2018-10-31/layers/{name}-ext/versions",
                {"Content": {"ZipFile": base64.b64encode(layer).decode()}},
                ok=(201,),
            )
            code = zip_of({"app.py": HELLO})
            extra = {"Layers": [published["LayerVersionArn"]]}
            api.create_function(
                name, code, "python3.12", "app.handler", timeout_s=TIMEOUT_S, extra=extra
            )
        node = zip_of({"index.mjs": TEN_CHUNKS})
        api.create_function(
            "bench-streamed", node, "nodejs20.x", "index.streamed", timeout_s=TIMEOUT_S
        )
        api.create_function(
            "bench-buffered", node, "nodejs20.x", "index.buffered", timeout_s=TIMEOUT_S
        )
        api.close()
        print("| warm invoke | p50 ms | p90 ms |\n|---|---:|---:|")
        for label, name in (
            ("no extension", "bench-none"),
            ("one idle extension (SHUTDOWN only)", "bench-idle"),
            ("one extension on INVOKE (Python urllib)", "bench-invoke"),
        ):
            samples = warm_latencies(server, name, args.invokes)
            p50, p90 = percentile(samples, 50), percentile(samples, 90)
            print(f"| {label} | {p50:.3f} | {p90:.3f} |")
        streamed = render_request(
            "POST",
            "/2021-11-15/functions/bench-streamed/response-streaming-invocations",
            b"{}",
            {"Connection": "close"},
        )
        buffered = render_request(
            "POST", invoke_path("bench-buffered"), b"{}", {"Connection": "close"}
        )
        results: dict[str, list[tuple[float, float]]] = {"streamed": [], "buffered": []}
        for request, key in ((streamed, "streamed"), (buffered, "buffered")):
            first_and_last_byte(server.host, server.port, request)  # the cold start
            for _ in range(args.rounds):
                results[key].append(first_and_last_byte(server.host, server.port, request))
        print(
            "\n| 10 chunks over 1 s | first byte ms (p50) | last byte ms (p50) |\n|---|---:|---:|"
        )
        for key, rows in results.items():
            first = percentile([r[0] * 1000 for r in rows], 50)
            last = percentile([r[1] * 1000 for r in rows], 50)
            print(f"| {key} | {first:.1f} | {last:.1f} |")
        for line in server.warnings():
            print(f"server: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
