"""What a rule does at a given instant: fire a tick, skip missed ones, or wait (pure).

Missed ticks (the server was down, or the machine slept) follow one documented policy:
the **latest** tick missed within the catch-up window (default 5 minutes) fires once,
late, with its own scheduled ``time``; older missed ticks are skipped, never replayed.
So a restart does not lose the tick it overlapped, and a server that was down for a
day does not fire 1,440 times when it comes back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lamina.events.schedule.nextfire import last_fire_at_or_before, next_fire
from lamina.services.eventbridge.expression import Rate, Schedule


@dataclass(frozen=True, slots=True)
class RulePlan:
    fire: datetime | None  # the tick to fire now
    skipped_to: datetime | None  # ticks up to here were missed beyond the window
    next_at: datetime | None  # when the rule next falls due


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def plan_rule(
    schedule: Schedule, anchor: float, last_tick: float | None, now: float, catchup_s: float
) -> RulePlan:
    since = _dt(last_tick if last_tick is not None else anchor)
    at = _dt(now)
    anchor_dt = _dt(anchor)
    window_start = max(since, at - timedelta(seconds=catchup_s))
    fire = last_fire_at_or_before(schedule, at, window_start, anchor_dt)
    skipped: datetime | None = None
    if fire is None:
        first = next_fire(schedule, since, anchor_dt)
        if first is not None and first <= at:
            skipped = at  # every tick since the last one is older than the window
    nxt = next_fire(schedule, at, anchor_dt)
    if isinstance(schedule, Rate) and nxt is not None and nxt <= at:  # pragma: no cover
        nxt = at + timedelta(seconds=schedule.seconds)
    return RulePlan(fire, skipped, nxt)


def flexible_offset(name: str, window_s: int) -> float:
    """How late, within its FlexibleTimeWindow, a schedule's ticks fire (pure).

    EventBridge Scheduler invokes "at some point within the window"; Lamina takes a point
    fixed per schedule (from a hash of its name), so ticks stay evenly spaced, schedules
    with the same expression spread out, and tests can predict it.
    """
    if window_s <= 0:
        return 0.0
    fraction = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2**64
    return fraction * window_s


def retry_delays(
    max_retries: int, max_age_s: float, first: float = 1.0, cap: float = 60.0
) -> list[float]:
    """Seconds after the first failed delivery at which each retry runs: doubling from
    ``first`` up to ``cap`` apart, at most ``max_retries`` of them, none past ``max_age_s``."""
    out: list[float] = []
    at, step = 0.0, first
    while len(out) < max_retries:
        at += step
        if at > max_age_s:
            break
        out.append(at)
        step = min(step * 2, cap)
    return out
