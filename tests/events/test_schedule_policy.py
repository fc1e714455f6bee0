"""Flexible time windows and retry policies of schedules (pure)."""

from __future__ import annotations

import itertools

from lamina.events.schedule.plan import flexible_offset, retry_delays


def test_no_window_fires_on_time() -> None:
    assert flexible_offset("nightly", 0) == 0.0


def test_the_offset_is_within_the_window_fixed_per_schedule_and_spread_across_names() -> None:
    offsets = {name: flexible_offset(name, 900) for name in ("a", "b", "c", "d", "e")}
    assert all(0 <= o < 900 for o in offsets.values())
    assert flexible_offset("a", 900) == offsets["a"]
    assert len(set(offsets.values())) == 5


def test_retries_double_up_to_a_minute_apart_within_count_and_age() -> None:
    assert retry_delays(4, 3600) == [1, 3, 7, 15]
    delays = retry_delays(185, 86_400)
    assert len(delays) == 185 and delays[-1] <= 86_400
    assert max(b - a for a, b in itertools.pairwise(delays)) == 60
    assert retry_delays(185, 10) == [1, 3, 7]  # the age runs out first
    assert retry_delays(0, 3600) == []
