"""Lambda's log-level filtering (LoggingConfig's ApplicationLogLevel and SystemLogLevel).

Pure decisions. Filtering needs the JSON log format: a Text-format function's lines all
go through (Lambda refuses levels with Text). A level lets its own records and the less
detailed ones through: ``SystemLogLevel=WARN`` drops INFO and DEBUG system records.

System records take the level of AWS's "System log level event mapping" table
(monitoring-cloudwatchlogs-log-level): see :func:`system_level`. The function's own lines
take the ``level`` of a JSON object (any case), else INFO: :func:`line_level`.
"""

from __future__ import annotations

import json

from lamina.logs.lines import platform_json
from lamina.models.function import FunctionConfig

# Ranks, least detailed highest; 0 lets everything through.
TRACE, DEBUG, INFO, WARN, ERROR, FATAL = 1, 2, 3, 4, 5, 6
RANKS = {"TRACE": TRACE, "DEBUG": DEBUG, "INFO": INFO, "WARN": WARN, "ERROR": ERROR, "FATAL": FATAL}
EVERYTHING = 0
# A line's level names: the API's, and Python logging's WARNING and CRITICAL, which the
# Python runtime's JSON records carry (awslambdaric writes ``levelname``; Lambda reads the
# level from its telemetry frame, which Lamina's runtimes do not have).
LINE_RANKS = {**RANKS, "WARNING": WARN, "CRITICAL": FATAL}


def system_floor(cfg: FunctionConfig) -> int:
    """The least rank of the system records ``cfg``'s log stream gets (0: all of them)."""
    level = cfg.sys_log_level
    return RANKS[level] if level else EVERYTHING


def application_floor(cfg: FunctionConfig) -> int:
    """The least rank of the function's own lines its log stream gets (0: all of them)."""
    level = cfg.app_log_level
    return RANKS[level] if level else EVERYTHING


def system_line(
    cfg: FunctionConfig, text: str, event_type: str, record: dict[str, object]
) -> str | None:
    """A system record in ``cfg``'s log format: ``text`` (Text), else the JSON record if
    its level passes SystemLogLevel (None: dropped)."""
    if cfg.log_format != "JSON":
        return text
    if system_level(event_type, record) < system_floor(cfg):
        return None
    return platform_json(event_type, record)


def system_level(event_type: str, record: dict[str, object]) -> int:
    """The level Lambda gives the system record ``event_type`` with ``record``.

    AWS's mapping: initStart and restoreStart INFO (DEBUG without a runtimeVersion);
    initRuntimeDone, restoreRuntimeDone and runtimeDone DEBUG, WARN unless successful;
    initReport WARN unless successful, else INFO, DEBUG for an on-demand INIT; start INFO;
    report and restoreReport INFO, WARN unless successful; extension INFO, WARN unless
    ready; anything else INFO."""
    ok = record.get("status", "success") == "success"
    if event_type in ("platform.initStart", "platform.restoreStart"):
        return INFO if record.get("runtimeVersion") else DEBUG
    if event_type in (
        "platform.initRuntimeDone",
        "platform.restoreRuntimeDone",
        "platform.runtimeDone",
    ):
        return DEBUG if ok else WARN
    if event_type == "platform.initReport":
        if not ok:
            return WARN
        return DEBUG if record.get("initializationType") == "on-demand" else INFO
    if event_type in ("platform.report", "platform.restoreReport"):
        return INFO if ok else WARN
    if event_type == "platform.extension":
        return INFO if record.get("state") == "Ready" else WARN
    return INFO


def line_level(line: str) -> int:
    """The level of one line the function wrote: a JSON object's ``level`` (TRACE to
    FATAL, WARNING and CRITICAL as Python names them, any case), INFO for anything else — a line that is not a JSON object, or one
    whose level is missing or unknown (AWS: "If the level value field is invalid or
    missing, Lambda assigns the log output the level INFO").

    Cheap for the common line: one character and one substring test before any parse."""
    if line[:1] != "{" or '"level"' not in line:
        return INFO
    try:
        record = json.loads(line)
    except ValueError:
        return INFO
    level = record.get("level") if isinstance(record, dict) else None
    if not isinstance(level, str):
        return INFO
    return LINE_RANKS.get(level.upper(), INFO)
