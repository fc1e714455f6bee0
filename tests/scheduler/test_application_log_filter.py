"""ApplicationLogLevel on an environment's output: what reaches the log stream and the tail,
and what Telemetry API subscribers still get (a real environment object, no process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lamina.logs.lines import function_log_group
from lamina.logs.store import LogStore, group_folder
from lamina.models.function import FunctionConfig
from lamina.runtime_api.channel import RuntimeChannel
from lamina.scheduler.environment import Environment
from lamina.scheduler.pool import EnvSlot, EnvState

WRITTEN = [
    "plain line",
    '{"level": "DEBUG", "msg": "d"}',
    '{"level": "info", "msg": "i"}',
    '{"level": "ERROR", "msg": "e"}',
    '{"msg": "no level"}',
    '{"level": "FATAL", "msg": "f"}',
]


def stream(tmp: Path, **logging: str) -> list[str]:
    """The lines of WRITTEN the stream keeps under ``logging`` (FunctionConfig fields);
    the invoke's tail must hold the same."""
    cfg = FunctionConfig("fn", "python3.12", "app.handler", "sha", 1, **logging)  # type: ignore[arg-type]

    async def scenario() -> list[str]:
        store = LogStore(tmp)
        slot = EnvSlot("1", "fn", "k", EnvState.BUSY, 0.0, 0.0)
        env = Environment(slot, cfg, RuntimeChannel(), "s", store)
        env.tail = []
        for line in WRITTEN:
            env._output_line(line, 1)
        kept = [event.message for event in store.read(group_folder(function_log_group(cfg)))]
        assert kept == env.tail_bytes().decode().splitlines()
        return kept

    return asyncio.run(scenario())


def test_the_text_format_keeps_every_line(tmp_path: Path) -> None:
    assert stream(tmp_path) == WRITTEN


def test_json_at_info_drops_only_the_debug_record(tmp_path: Path) -> None:
    assert stream(tmp_path, log_format="JSON") == [line for line in WRITTEN if "DEBUG" not in line]


def test_json_at_debug_keeps_everything(tmp_path: Path) -> None:
    assert stream(tmp_path, log_format="JSON", application_log_level="DEBUG") == WRITTEN


def test_json_at_error_keeps_error_and_fatal_and_drops_plain_lines_as_info(tmp_path: Path) -> None:
    kept = stream(tmp_path, log_format="JSON", application_log_level="ERROR")
    assert kept == ['{"level": "ERROR", "msg": "e"}', '{"level": "FATAL", "msg": "f"}']
