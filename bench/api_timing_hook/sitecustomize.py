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

import os
import runpy
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.call_timing import CallTimes

_WARM_UP = 500


def _install(out: str) -> None:
    from lamina.api import app, auth, mounts
    from lamina.wire import http, server

    # From beside this hook, whichever checkout is measured (see bench/call_timing.py).
    timer: type[CallTimes] = runpy.run_path(str(Path(__file__).parents[1] / "call_timing.py"))[
        "CallTimes"
    ]
    times = timer(_WARM_UP)
    clock = times.clock
    received = server.HttpConnection.data_received

    def data_received(conn: server.HttpConnection, data: bytes) -> None:
        # The API's connections apart from the Runtime API's (the same class serves both).
        owner = type(getattr(conn._handler, "__self__", None)).__name__
        key = "api.data_received" if owner == "LambdaApi" else "runtime_api.data_received"
        t = clock()
        received(conn, data)
        times.kept(key).append(clock() - t)

    setattr(server.HttpConnection, "data_received", data_received)  # noqa: B010 - a patch
    times.wrap(http.RequestParser, "feed", "parser.feed")
    times.wrap(app.LambdaApi, "handle", "api.handle")
    times.wrap(mounts.MountTable, "pick", "mounts.pick")
    times.wrap(auth.Authenticator, "check", "auth.check")
    times.wrap(app.LambdaApi, "_invoke", "api._invoke")
    times.wrap(app, "invoke_response", "invoke_response")
    times.wrap(http.Response, "render", "response.render")
    times.write_at_exit(out)


_OUT = os.environ.get("LAMINA_API_TIMING")
if _OUT and "serve" in sys.argv:
    _install(_OUT)
