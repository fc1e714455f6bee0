"""Times the API's share of a warm invoke inside ``lamina serve`` (the front half).

Put this folder on the server's ``PYTHONPATH`` and set ``LAMINA_API_TIMING`` to a file:
the server then wraps the request parser, the mount table, the handler, the invoke's
synchronous part, the signature check and the answer's rendering with
``time.perf_counter()`` and, at exit, appends each one's median (µs, the first 500 calls
left out) to that file. Nested wrappers add ~0.3 µs to each figure that contains others;
``api.data_received`` contains the parser and the handler (and no write: the invoke's
answer is written later); ``runtime_api.data_received`` the runtime's requests (its answer
posted, with the ``202`` written inside, and its parked ``/next``). Nothing happens without the
variable. (``bench/timing_hook`` is the after-invoke step's counterpart: only one
``sitecustomize`` is imported, so use one at a time.)

    LAMINA_API_TIMING=/tmp/api.txt PYTHONPATH=$PWD:$PWD/bench/api_timing_hook \\
        python -m bench.server_cpu --connections 1 --invokes 5000
"""

from __future__ import annotations

import atexit
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

_WARM_UP = 500


def _install(out: str) -> None:
    from lamina.api import app, auth, mounts
    from lamina.wire import http, server

    samples: dict[str, list[float]] = {}
    clock = time.perf_counter

    def wrap(owner: Any, name: str, key: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)
        kept = samples.setdefault(key, [])

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = clock()
            result = original(*args, **kwargs)
            kept.append(clock() - t)
            return result

        setattr(owner, name, timed)

    received = server.HttpConnection.data_received

    def data_received(conn: server.HttpConnection, data: bytes) -> None:
        # The API's connections apart from the Runtime API's (the same class serves both).
        owner = type(getattr(conn._handler, "__self__", None)).__name__
        key = "api.data_received" if owner == "LambdaApi" else "runtime_api.data_received"
        t = clock()
        received(conn, data)
        samples.setdefault(key, []).append(clock() - t)

    setattr(server.HttpConnection, "data_received", data_received)  # noqa: B010 - a patch
    wrap(http.RequestParser, "feed", "parser.feed")
    wrap(app.LambdaApi, "handle", "api.handle")
    wrap(mounts.MountTable, "pick", "mounts.pick")
    wrap(auth.Authenticator, "check", "auth.check")
    wrap(app.LambdaApi, "_invoke", "api._invoke")
    wrap(app, "invoke_response", "invoke_response")
    wrap(http.Response, "render", "response.render")

    def dump() -> None:
        figures = [
            f"{key}={statistics.median(values[_WARM_UP:] or values) * 1e6:.2f}"
            for key, values in samples.items()
            if values
        ]
        with open(out, "a") as f:
            f.write(os.environ.get("LAMINA_BENCH_TAG", "") + " " + " ".join(figures) + "\n")

    atexit.register(dump)


_OUT = os.environ.get("LAMINA_API_TIMING")
if _OUT and "serve" in sys.argv:
    _install(_OUT)
