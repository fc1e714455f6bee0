"""What ApplicationLogLevel's filter adds to a line of function output, in process.

    PYTHONPATH=. .venv/bin/python -m bench.log_levels_cost [lines]

Times :meth:`Environment._output_line` (the per-line path from the runtime's pipe to the
log store and the invoke's tail) on a real environment object and a real log store, best
of 5 runs of ``lines`` calls, for a Text function (no filter) and JSON functions at INFO
and ERROR, with a plain line, a JSON line without ``level`` and JSON lines with one (kept
and dropped); then :func:`lamina.logs.levels.line_level` alone.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import timeit
from pathlib import Path

from lamina.logs import levels
from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.runtime_api.channel import RuntimeChannel
from lamina.scheduler.environment import Environment
from lamina.scheduler.pool import EnvSlot, EnvState

LINES = {
    "plain": "processed order 12345 in 18 ms",
    "json, no level": '{"msg": "processed order", "order": 12345, "ms": 18}',
    "json, INFO": '{"level": "INFO", "msg": "processed order", "order": 12345}',
    "json, DEBUG": '{"level": "DEBUG", "msg": "cache miss", "key": "order:12345"}',
}
CONFIGS = {
    "Text": {},
    "JSON INFO": {"log_format": "JSON"},
    "JSON ERROR": {"log_format": "JSON", "application_log_level": "ERROR"},
}


def per_call_ns(call: object, number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e9  # type: ignore[arg-type]


async def output_line_costs(tmp: Path, number: int) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for config, fields in CONFIGS.items():
        cfg = FunctionConfig("fn", "python3.12", "app.handler", "sha", 1, **fields)  # type: ignore[arg-type]
        store = LogStore(tmp / config.replace(" ", "-"))
        slot = EnvSlot("1", "fn", "k", EnvState.BUSY, 0.0, 0.0)
        env = Environment(slot, cfg, RuntimeChannel(), "stream", store)
        env.tail = []  # LogType=Tail asked for: the dearest path
        write = env._output_line
        for kind, line in LINES.items():
            out[(config, kind)] = per_call_ns(lambda w=write, s=line: w(s, 1), number)
        store.flush()
    return out


def main() -> None:
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        costs = asyncio.run(output_line_costs(Path(tmp), number))
    print(f"Environment._output_line, ns per line (best of 5 x {number}):")
    print(f"{'':18}" + "".join(f"{c:>12}" for c in CONFIGS))
    for kind in LINES:
        print(f"{kind:18}" + "".join(f"{costs[(c, kind)]:12.0f}" for c in CONFIGS))
    print("levels.line_level alone, ns per line:")
    for kind, line in LINES.items():
        print(f"  {kind:16}{per_call_ns(lambda line=line: levels.line_level(line), number):8.0f}")


if __name__ == "__main__":
    main()
