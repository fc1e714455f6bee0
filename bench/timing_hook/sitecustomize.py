"""Times the after-invoke step inside ``lamina serve`` (issue 17's measurement).

Put this folder on the server's ``PYTHONPATH`` and set ``LAMINA_BENCH_TIMING`` to a file:
the server then wraps :meth:`Reporter.after_invoke`, ``write_start`` and the parts inside
them with ``time.perf_counter()`` and, at exit, appends each one's median (µs) and the
server's CPU per invoke (``time.process_time()``, every thread) to that file. The step
runs after the answer; what stays before the answer is queueing it (``AFTER_ANSWER_ADD``,
:meth:`AfterAnswers.add`, plus a ``functools.partial``). ``ANSWER_PATH`` is the critical
section itself: from the runtime's answer arriving (its ``perf_counter()`` instant) to the
client's answer handed to the transport (the next ``HttpConnection.send``; meaningful at
one connection only, where nothing else is in flight). ``LAMINA_BENCH_TIMING_PARTS=0``
times only that and the step as a whole (no wrappers inside the window). Medians,
because a preempted call on a loaded machine inflates a mean; nested wrappers add
~0.2 µs to each figure that contains others. Nothing happens without the variable.

    LAMINA_BENCH_TIMING=/tmp/t.txt PYTHONPATH=$PWD:$PWD/bench/timing_hook \\
        python -m bench.fixed --invokes 6000 --connections 8
"""

from __future__ import annotations

import os
import runpy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.call_timing import CallTimes

_WARM_UP = 200  # calls left out of each median (the cold start and the first invokes)


def _install(out: str) -> None:
    from lamina.scheduler import delivery, driver, environment, report, telemetry_events
    from lamina.wire import server

    # From beside this hook, whichever checkout is measured (see bench/call_timing.py).
    timer: type[CallTimes] = runpy.run_path(str(Path(__file__).parents[1] / "call_timing.py"))[
        "CallTimes"
    ]
    times = timer(_WARM_UP)
    cpu: list[float] = []

    if os.environ.get("LAMINA_BENCH_TIMING_PARTS", "1") != "0":
        for name in ("drain_output", "max_memory_mb", "log"):
            times.wrap(environment.Environment, name, f"env.{name}")
        for name in ("invocation_record", "report"):
            times.wrap(report, name, name)
        times.wrap(telemetry_events, "invoke_done", "telemetry.invoke_done")
        try:  # absent from trees before the step ran after the answer
            from lamina.scheduler import after_answer

            times.wrap(after_answer.AfterAnswers, "add", "AFTER_ANSWER_ADD")
        except ImportError:
            pass
    _time_the_answer_path(driver, server, times.kept("ANSWER_PATH"), times.clock)
    after = times.wrap(report.Reporter, "after_invoke", "AFTER_INVOKE")
    after_invokes = times.kept("AFTER_INVOKE")

    def after_and_cpu(*args: Any, **kwargs: Any) -> Any:
        result = after(*args, **kwargs)
        done = len(after_invokes)
        if done == _WARM_UP:
            cpu[:] = [time.process_time(), 0.0, 0.0]
        elif done > _WARM_UP:
            cpu[1:] = [time.process_time(), float(done)]
        return result

    setattr(report.Reporter, "after_invoke", after_and_cpu)  # noqa: B010 - a patch
    # delivery imported write_start by name: patch its reference too.
    setattr(delivery, "write_start", times.wrap(report, "write_start", "WRITE_START"))  # noqa: B010

    def cpu_per_invoke() -> list[str]:
        if len(cpu) == 3 and cpu[2] > _WARM_UP:
            per = (cpu[1] - cpu[0]) / (cpu[2] - _WARM_UP) * 1e6
            return [f"server_cpu_per_invoke={per:.1f}"]
        return []

    times.write_at_exit(out, cpu_per_invoke)


def _time_the_answer_path(
    driver: Any, server: Any, kept: list[float], clock: Callable[[], float]
) -> None:
    """From the runtime's answer (``Delivered.ending.at``) to the next ``send``."""
    answered: list[float] = []
    deliver = driver.deliver

    async def timed_deliver(*args: Any, **kwargs: Any) -> Any:
        delivered = await deliver(*args, **kwargs)
        at = getattr(delivered.ending, "at", 0.0)
        answered[:] = [at] if at else []
        return delivered

    send = server.HttpConnection.send

    def timed_send(self: Any, response: Any, **kwargs: Any) -> bool:
        if answered:
            sent = send(self, response, **kwargs)
            kept.append(clock() - answered.pop())
            return bool(sent)
        return bool(send(self, response, **kwargs))

    driver.deliver = timed_deliver
    server.HttpConnection.send = timed_send


if os.environ.get("LAMINA_BENCH_TIMING") and "serve" in sys.argv:
    _install(os.environ["LAMINA_BENCH_TIMING"])
