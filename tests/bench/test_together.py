"""Client threads released together after their own set-up (real threads)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bench.together import release_together


def test_no_thread_works_before_all_are_set_up_and_all_have_ended_on_return() -> None:
    lock = threading.Lock()
    set_up: list[int] = []
    worked: list[tuple[int, int]] = []  # (thread, how many were set up when it worked)

    def body(k: int) -> Callable[[Callable[[], object]], None]:
        def run(go: Callable[[], object]) -> None:
            with lock:
                set_up.append(k)
            go()
            with lock:
                worked.append((k, len(set_up)))

        return run

    before = time.perf_counter()
    released = release_together([body(k) for k in range(4)])
    assert sorted(k for k, _ in worked) == [0, 1, 2, 3]  # every one ended
    assert all(n == 4 for _, n in worked)  # none worked before every set-up was done
    assert before < released < time.perf_counter()  # the instant they were let go
