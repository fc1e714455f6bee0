"""LoggingConfig's levels: the request rules, GetFunction's shape, AWS_LAMBDA_LOG_LEVEL, and
which system records and function lines each level lets through (pure, no server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina.api.bodies import TEXT_WITH_LEVEL, parse_configuration_update, parse_create
from lamina.api.shapes import logging_config
from lamina.errors import InvalidParameterValue
from lamina.logs import levels, lines
from lamina.models.function import FunctionConfig
from lamina.scheduler.variables import environment_variables
from lamina.store.codec import config_from_json, config_to_json

ROLE = "arn:aws:iam::000000000000:role/r"


def create(logging: dict[str, Any] | None) -> FunctionConfig:
    body: dict[str, Any] = {"Runtime": "python3.12", "Handler": "app.handler"}
    body["Code"] = {"ZipFile": "UEs="}
    if logging is not None:
        body["LoggingConfig"] = logging
    return parse_create(body, "f", ROLE).config


def refused(call: Any) -> str:
    with pytest.raises(InvalidParameterValue) as info:
        call()
    return str(info.value)


# -- the request ----------------------------------------------------------------------------
def test_json_without_levels_defaults_both_to_info_and_text_has_none() -> None:
    assert logging_config(create({"LogFormat": "JSON"})) == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": "/aws/lambda/f",
    }
    for text in (create(None), create({"LogFormat": "Text"})):
        assert logging_config(text) == {"LogFormat": "Text", "LogGroup": "/aws/lambda/f"}


def test_json_keeps_the_levels_it_is_given() -> None:
    cfg = create({"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "WARN"})
    assert (cfg.application_log_level, cfg.system_log_level) == ("DEBUG", "WARN")
    assert logging_config(cfg)["ApplicationLogLevel"] == "DEBUG"


@pytest.mark.parametrize(
    "logging",
    [
        {"LogFormat": "Text", "ApplicationLogLevel": "INFO"},
        {"LogFormat": "Text", "SystemLogLevel": "WARN"},
        {"ApplicationLogLevel": "ERROR"},  # no format on create: Text
    ],
)
def test_a_level_with_the_text_format_is_refused_in_lambdas_words(logging: dict[str, str]) -> None:
    assert refused(lambda: create(logging)) == TEXT_WITH_LEVEL
    assert TEXT_WITH_LEVEL.startswith('LogLevel is not supported when LogFormat is set to "Text"')


def test_an_empty_level_is_no_level_as_terraform_sends_it() -> None:
    cfg = create({"LogFormat": "Text", "ApplicationLogLevel": "", "SystemLogLevel": ""})
    assert (cfg.application_log_level, cfg.system_log_level) == ("", "")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "ApplicationLogLevel",
            "VERBOSE",
            "1 validation error detected: Value 'VERBOSE' at 'loggingConfig.applicationLogLevel'"
            " failed to satisfy constraint: Member must satisfy enum value set: "
            "[TRACE, DEBUG, INFO, WARN, ERROR, FATAL]",
        ),
        (
            "SystemLogLevel",
            "ERROR",
            "1 validation error detected: Value 'ERROR' at 'loggingConfig.systemLogLevel'"
            " failed to satisfy constraint: Member must satisfy enum value set: "
            "[DEBUG, INFO, WARN]",
        ),
        (
            "ApplicationLogLevel",
            "info",  # the API's enum is upper case (a line's level is not)
            "1 validation error detected: Value 'info' at 'loggingConfig.applicationLogLevel'"
            " failed to satisfy constraint: Member must satisfy enum value set: "
            "[TRACE, DEBUG, INFO, WARN, ERROR, FATAL]",
        ),
    ],
)
def test_a_level_outside_its_enum_is_refused(key: str, value: str, message: str) -> None:
    assert refused(lambda: create({"LogFormat": "JSON", key: value})) == message


def test_an_update_without_logging_config_keeps_the_levels() -> None:
    cfg = create({"LogFormat": "JSON", "ApplicationLogLevel": "ERROR", "SystemLogLevel": "WARN"})
    kept = parse_configuration_update({"MemorySize": 256}, cfg)
    assert (kept.application_log_level, kept.system_log_level) == ("ERROR", "WARN")


def test_an_update_with_logging_config_sets_both_levels_info_where_unnamed() -> None:
    cfg = create({"LogFormat": "JSON", "ApplicationLogLevel": "ERROR", "SystemLogLevel": "WARN"})
    changed = parse_configuration_update({"LoggingConfig": {"SystemLogLevel": "DEBUG"}}, cfg)
    assert changed.log_format == "JSON"  # an omitted LogFormat keeps the format
    assert (changed.application_log_level, changed.system_log_level) == ("INFO", "DEBUG")


def test_back_to_text_drops_the_levels_and_text_refuses_new_ones() -> None:
    cfg = create({"LogFormat": "JSON", "ApplicationLogLevel": "ERROR"})
    text = parse_configuration_update({"LoggingConfig": {"LogFormat": "Text"}}, cfg)
    assert (text.application_log_level, text.system_log_level) == ("", "")
    assert logging_config(text) == {"LogFormat": "Text", "LogGroup": "/aws/lambda/f"}
    body = {"LoggingConfig": {"SystemLogLevel": "WARN"}}
    assert refused(lambda: parse_configuration_update(body, text)) == TEXT_WITH_LEVEL


def test_the_levels_are_stored_and_read_back_and_an_old_record_reads_as_info() -> None:
    cfg = create({"LogFormat": "JSON", "ApplicationLogLevel": "TRACE", "SystemLogLevel": "DEBUG"})
    assert config_from_json(config_to_json(cfg)) == cfg
    # A JSON-format function stored before the levels existed: Lambda's defaults.
    old = json.loads(config_to_json(create({"LogFormat": "JSON"})))
    del old["application_log_level"], old["system_log_level"]
    read = config_from_json(json.dumps(old))
    assert (read.app_log_level, read.sys_log_level) == ("INFO", "INFO")


# -- the environment ----------------------------------------------------------------------
def variables(cfg: FunctionConfig) -> dict[str, str]:
    return environment_variables(
        cfg,
        region="us-east-1",
        runtime_api="127.0.0.1:9001",
        log_stream="s",
        task_root="/var/task",
        runtime_dir="/var/runtime",
        execution_env=None,
    )


def test_aws_lambda_log_level_is_the_application_level_and_only_with_json() -> None:
    json_env = variables(create({"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}))
    assert (json_env["AWS_LAMBDA_LOG_FORMAT"], json_env["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "WARN")
    assert variables(create({"LogFormat": "JSON"}))["AWS_LAMBDA_LOG_LEVEL"] == "INFO"
    text_env = variables(create(None))
    assert text_env["AWS_LAMBDA_LOG_FORMAT"] == "Text" and "AWS_LAMBDA_LOG_LEVEL" not in text_env


# -- the filtering --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("plain text", levels.INFO),
        ('{"level": "debug", "msg": "x"}', levels.DEBUG),
        ('{"level":"TRACE"}', levels.TRACE),
        ('{"level": "Warn"}', levels.WARN),
        ('{"level": "FATAL", "n": 1}', levels.FATAL),
        ('{"level": "WARNING", "message": "py"}', levels.WARN),  # Python's runtime's names
        ('{"level": "CRITICAL", "message": "py"}', levels.FATAL),
        ('{"level": "NOTICE"}', levels.INFO),  # invalid: INFO
        ('{"msg": "no level"}', levels.INFO),  # missing: INFO
        ('{"level": 40}', levels.INFO),
        ('{"level": "error" broken json', levels.INFO),
        ('["level", "ERROR"]', levels.INFO),
        ('  {"level": "ERROR"}', levels.INFO),  # not a JSON object line
    ],
)
def test_a_lines_level_is_its_json_level_else_info(line: str, level: int) -> None:
    assert levels.line_level(line) == level


def test_text_format_filters_nothing_and_json_filters_from_its_level() -> None:
    assert levels.application_floor(create(None)) == levels.EVERYTHING
    assert levels.system_floor(create(None)) == levels.EVERYTHING
    cfg = create({"LogFormat": "JSON", "ApplicationLogLevel": "ERROR", "SystemLogLevel": "WARN"})
    assert levels.application_floor(cfg) == levels.ERROR
    assert levels.system_floor(cfg) == levels.WARN
    assert levels.system_floor(create({"LogFormat": "JSON"})) == levels.INFO


@pytest.mark.parametrize(
    ("event_type", "record", "level"),
    [
        ("platform.initStart", {"runtimeVersion": "python:3.12.v1"}, levels.INFO),
        ("platform.initStart", {}, levels.DEBUG),
        ("platform.initRuntimeDone", {"status": "success"}, levels.DEBUG),
        ("platform.initRuntimeDone", {"status": "error"}, levels.WARN),
        ("platform.initReport", {"status": "success", "initializationType": "on-demand"}, 2),
        ("platform.initReport", {"status": "success", "initializationType": "snap-start"}, 3),
        ("platform.initReport", {"status": "timeout", "initializationType": "on-demand"}, 4),
        ("platform.restoreStart", {"runtimeVersion": "python:3.12.v1"}, levels.INFO),
        ("platform.restoreRuntimeDone", {"status": "success"}, levels.DEBUG),
        ("platform.restoreReport", {"status": "success"}, levels.INFO),
        ("platform.restoreReport", {"status": "error"}, levels.WARN),
        ("platform.start", {"requestId": "r"}, levels.INFO),
        ("platform.runtimeDone", {"status": "success"}, levels.DEBUG),
        ("platform.runtimeDone", {"status": "timeout"}, levels.WARN),
        ("platform.report", {"status": "success"}, levels.INFO),
        ("platform.report", {"status": "error"}, levels.WARN),
        ("platform.extension", {"state": "Ready"}, levels.INFO),
        ("platform.extension", {"state": "Crashed"}, levels.WARN),
    ],
)
def test_system_records_take_the_level_of_aws_mapping(
    event_type: str, record: dict[str, object], level: int
) -> None:
    assert levels.system_level(event_type, record) == level


def test_a_system_line_is_text_in_text_and_a_filtered_record_in_json() -> None:
    start = lines.start_record("r", "$LATEST")
    text = lines.start_line("r", "$LATEST")
    assert levels.system_line(create(None), text, "platform.start", start) == text
    shown = levels.system_line(create({"LogFormat": "JSON"}), text, "platform.start", start)
    assert shown is not None
    assert json.loads(shown)["record"] == {"requestId": "r", "version": "$LATEST"}
    warn = create({"LogFormat": "JSON", "SystemLogLevel": "WARN"})
    assert levels.system_line(warn, text, "platform.start", start) is None
