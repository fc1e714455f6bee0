"""LAMINA_SCHEDULE_TIME_SCALE: schedules on a faster clock, so tests need not wait minutes."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import datetime
from pathlib import Path

from lamina.events.schedule.runner import ScheduleRunner, scaled_clock
from lamina.services.eventbridge.rules import Rule, RuleStore, Target


def test_the_scaled_clock_starts_at_real_time_and_runs_faster() -> None:
    now = [1_000.0]
    clock = scaled_clock(60.0, lambda: now[0])
    assert clock() == 1_000.0
    now[0] += 2.5
    assert clock() == 1_000.0 + 150.0
    assert scaled_clock(1.0, lambda: now[0])() == now[0]  # unscaled: the real clock itself


def test_a_rate_rule_on_a_scaled_clock_fires_minute_spaced_ticks_within_a_second(
    tmp_path: Path,
) -> None:
    async def main() -> list[tuple[str, bytes]]:
        clock = scaled_clock(600.0)  # a minute every 0.1 s
        store = RuleStore(tmp_path / "schedules.db")
        target = Target("job", "arn:aws:lambda:us-east-1:000000000000:function:job")
        store.save(Rule("tick", "rate(1 minute)", "ENABLED", "", clock(), None, (target,)))
        fired: list[tuple[str, bytes]] = []
        three = asyncio.Event()

        async def enqueue(name: str, qualifier: str | None, payload: bytes) -> str:
            fired.append((name, payload))
            if len(fired) >= 3:
                three.set()
            return "rid"

        runner = ScheduleRunner(
            store, enqueue, region="us-east-1", account="000000000000", clock=clock, time_scale=600
        )
        runner.start()
        async with asyncio.timeout(10):
            await three.wait()
        await runner.close()
        store.close()
        return fired

    fired = asyncio.run(main())
    assert len(fired) >= 3
    times = [datetime.fromisoformat(json.loads(p)["time"]) for _, p in fired[:3]]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [60, 60]
