"""Client threads released at one instant, after each has done its own set-up.

A burst or a throughput run times only the work: each thread opens its connection
first, then waits at a barrier; the clock starts when the last one (and the caller)
arrives there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

# A client thread's body: it calls ``go()`` once its set-up is done, then does the work.
Body = Callable[[Callable[[], object]], None]


def release_together(bodies: Sequence[Body]) -> float:
    """Run each body in its own thread, release them together, wait for all to end.

    Returns the ``time.perf_counter()`` instant they were released: the caller's clock
    start (the threads have all ended when this returns).
    """
    barrier = threading.Barrier(len(bodies) + 1)
    threads = [threading.Thread(target=body, args=(barrier.wait,)) for body in bodies]
    for t in threads:
        t.start()
    barrier.wait()
    released = time.perf_counter()
    for t in threads:
        t.join()
    return released
