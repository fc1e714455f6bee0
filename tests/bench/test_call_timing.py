"""The timing hooks' shared median writer (pure: a fake clock, a real file)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from bench.call_timing import CallTimes


class Work:
    def step(self, n: int) -> int:
        return n * 2


def test_a_wrapped_call_is_timed_and_answers_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Work, "step", Work.step)  # put back afterwards
    ticks = iter([10.0, 10.5, 20.0, 23.0])  # the clock read before and after each call
    times = CallTimes(warm_up=0, clock=lambda: next(ticks))
    timed = times.wrap(Work, "step", "work.step")
    assert Work.step is timed
    assert Work().step(21) == 42 and Work().step(1) == 2
    assert times.kept("work.step") == [0.5, 3.0]


def test_medians_leave_out_the_warm_up_unless_nothing_is_left() -> None:
    times = CallTimes(warm_up=2)
    times.kept("a").extend([9.0, 9.0, 1e-6, 2e-6, 3e-6])
    times.kept("short").extend([5e-6])  # fewer calls than the warm-up: all of them
    times.kept("never")  # no call: no figure
    assert times.medians() == ["a=2.00", "short=5.00"]


def test_the_line_carries_the_tag_the_medians_and_the_extra_figures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAMINA_BENCH_TAG", "main")
    times = CallTimes(warm_up=0)
    times.kept("x").append(1e-6)
    assert times.line(["cpu=3.0"]) == "main x=1.00 cpu=3.0"


def test_the_hooks_load_it_from_beside_them() -> None:
    # What a hook does: run the file by its path, whichever checkout is on sys.path.
    hook_dir = Path(__file__).resolve().parents[2] / "bench" / "timing_hook"
    loaded = runpy.run_path(str(hook_dir.parent / "call_timing.py"))["CallTimes"]
    times = loaded(warm_up=0)
    times.kept("y").append(2e-6)
    assert times.medians() == ["y=2.00"]
