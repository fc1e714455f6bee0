"""Counts freezes and thaws inside ``lamina serve`` (issue 17's high-concurrency work).

Put this folder on the server's ``PYTHONPATH`` and set ``LAMINA_BENCH_FREEZES`` to a path:
a server then writes ``<path>.<its pid>`` every 0.1 s, a JSON object with the freezes and
thaws it made (cgroup freezer writes), the thaws an event waited for (``Environment.thaw``
with a freeze or thaw to undo) and how many of those took over 1 ms and over 5 ms.
``python -m bench.concurrency`` reads it when the variable is set and prints the
differences per run. Only one ``sitecustomize`` is imported: use one hook at a time.
Nothing happens without the variable.

    LAMINA_BENCH_FREEZES=/tmp/freezes PYTHONPATH=$PWD:$PWD/bench/freeze_hook \\
        python -m bench.concurrency --function python --rounds 2
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any


def _install(out: str) -> None:
    from lamina.sandbox import cgroup_driver
    from lamina.scheduler import driver, environment

    counts = {"freezes": 0, "thaws": 0, "waited": 0, "waited_1ms": 0, "waited_5ms": 0}
    started: list[bool] = []

    def dump() -> None:
        while True:
            time.sleep(0.1)
            with open(f"{out}.tmp", "w") as f:
                json.dump(counts, f)
            os.replace(f"{out}.tmp", out)

    set_frozen = cgroup_driver.CgroupHandle.set_frozen

    async def counted_set_frozen(self: Any, frozen: bool) -> None:
        counts["freezes" if frozen else "thaws"] += 1
        await set_frozen(self, frozen)

    thaw: Callable[[Any], Coroutine[Any, Any, None]] = environment.Environment.thaw

    async def timed_thaw(self: Any) -> None:
        undo = self.frozen or self.freezing is not None
        t = time.perf_counter()
        await thaw(self)
        if undo:
            took = time.perf_counter() - t
            counts["waited"] += 1
            counts["waited_1ms"] += took > 0.001
            counts["waited_5ms"] += took > 0.005

    init = driver.Scheduler.__init__

    def init_and_dump(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if not started:  # the server's process only, not the bench's or its clients
            started.append(True)
            threading.Thread(target=dump, daemon=True).start()

    cgroup_driver.CgroupHandle.set_frozen = counted_set_frozen  # type: ignore[method-assign]
    environment.Environment.thaw = timed_thaw  # type: ignore[method-assign]
    driver.Scheduler.__init__ = init_and_dump  # type: ignore[method-assign]


_out = os.environ.get("LAMINA_BENCH_FREEZES")
if _out:
    _install(f"{_out}.{os.getpid()}")
