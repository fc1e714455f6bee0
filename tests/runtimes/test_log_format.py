"""Lambda's advanced logging controls in Lamina's runtimes, judged by AWS's runtime clients.

The same small handlers run under Lamina's runtime and under AWS's own runtime interface
client (``awslambdaric`` from the virtualenv, ``aws-lambda-ric`` from the examples' build)
against a real (test) Runtime API, with ``AWS_LAMBDA_LOG_FORMAT`` / ``AWS_LAMBDA_LOG_LEVEL``
in the runtime's environment. Their log records must be the same: keys in the same order,
levels, messages, request ids; timestamps are checked by format, and stack frames of the
runtimes' own code (which differ by nature) are left out of the comparison.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import ANY

import pytest

from lamina.errors import InvalidRuntime
from lamina.runtimes.registry import RuntimeRegistry, runtime_dir
from tests.runtimes.fake_runtime_api import FakeRuntimeApi, lambda_environment, run_runtime

REGISTRY = RuntimeRegistry({})
REPO = Path(__file__).resolve().parents[2]
RIC_NODE = (
    REPO / "build" / "stage" / "ric-node" / "node_modules" / "aws-lambda-ric" / "bin" / "index.mjs"
)
PY_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NODE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TENANT = {"Lambda-Runtime-Aws-Tenant-Id": "tenant-1"}

Record = list[tuple[str, object]]


@dataclass
class Run:
    """What one runtime wrote: its stdout's JSON records (in order) and other lines."""

    records: list[dict[str, object]]
    lines: list[str]


def lamina_argv(runtime: str) -> list[str]:
    try:
        return list(REGISTRY.resolve(runtime, str(runtime_dir())).argv)
    except InvalidRuntime as exc:
        pytest.skip(str(exc))


def ric_python_argv(handler: str) -> list[str]:
    # A dev dependency: in the virtualenv, whose interpreter runs the tests.
    pytest.importorskip("awslambdaric")
    return [sys.executable, "-m", "awslambdaric", handler]


def ric_node_argv(handler: str) -> list[str]:
    if not RIC_NODE.is_file():
        pytest.skip(f"aws-lambda-ric is not built ({RIC_NODE}): make examples")
    node = lamina_argv("nodejs20.x")[0]
    return [node, str(RIC_NODE), handler]


def run(
    argv: list[str],
    task: Path,
    logs: Path,
    handler: str,
    events: list[tuple[object, dict[str, str]]],
    env: dict[str, str],
    *,
    init_error: bool = False,
    exits: bool = False,
) -> Run:
    """Run ``events`` through a runtime (request ids ``req-0``, ``req-1``, ...) and read its log.

    ``init_error``: the runtime reports a failed INIT and exits; ``exits``: the last event
    ends the process (an uncaught error), so its answer is not waited for.
    """
    with FakeRuntimeApi() as api:
        variables = lambda_environment(api, task, handler, **env)
        if "awslambdaric" in argv:
            variables["PYTHONPATH"] = str(task)
        with run_runtime(argv, variables, task, logs) as rt:
            if init_error:
                api.wait_init_error()
                rt.wait()
            for n, (event, headers) in enumerate(events):
                request_id = api.queue_event(event, request_id=f"req-{n}", headers=headers)
                if exits and n == len(events) - 1:
                    rt.wait()
                else:
                    api.wait_answer(request_id, rt.process)
            # Each runtime writes an invoke's lines before its answer (Node.js writes files
            # synchronously, Lamina's Python flushes, awslambdaric writes unbuffered).
            out = rt.stdout()
    records: list[dict[str, object]] = []
    lines: list[str] = []
    for line in out.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
        elif line:
            lines.append(line)
    return Run(records, lines)


def write(task: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = task / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def normalised(
    records: list[dict[str, object]], time_format: re.Pattern[str], task: Path
) -> list[Record]:
    """Records as ordered (key, value) lists: timestamps checked and blanked, stack frames
    outside the task (the runtime's own, the interpreter's) dropped, runtime paths named."""

    def frames(value: object) -> object:
        if isinstance(value, str):
            kept = [
                line
                for line in value.split("\n")
                if not re.match(r"\s+at ", line) or str(task) in line
            ]
            text = "\n".join(kept)
            # A failed require names the file that asked: the runtime's, which differs.
            return re.sub(r"^- /\S+$", "- <runtime>", text, flags=re.MULTILINE)
        if isinstance(value, list):
            # A Python stack trace is a list of frames; keep the function's own.
            if value and all(isinstance(v, str) and v.startswith("  File ") for v in value):
                return [v for v in value if str(task) in v]
            return [frames(v) for v in value if not isinstance(v, str) or frames(v) != ""]
        if isinstance(value, dict):
            return {k: frames(v) for k, v in value.items()}
        return value

    out: list[Record] = []
    for record in records:
        timestamp = record.get("timestamp")
        assert isinstance(timestamp, str) and time_format.match(timestamp), record
        out.append([(k, "<time>" if k == "timestamp" else frames(v)) for k, v in record.items()])
    return out


def levels(records: list[Record]) -> set[object]:
    return {dict(r)["level"] for r in records}


# --------------------------------------------------------------------------- Python

PY_APP = {
    "app.py": """
        import datetime
        import logging

        logging.getLogger().info("init info")
        logging.getLogger("init").warning("init warning")
        log = logging.getLogger("app")


        def handler(event, context):
            print("printed\\nas it is")
            log.debug("debug %s", event)
            log.info(
                "info\\nwith a newline",
                extra={"order": {"id": 7}, "day": datetime.date(2026, 1, 1)},
            )
            log.warning({"a": "dict", "n": 1})
            logging.log(25, "between info and warning")
            log.error("error %d%%", 5)
            log.critical("critical")
            try:
                {}["missing"]
            except KeyError:
                log.exception("lookup failed")
            if event == "fail":
                raise ValueError("boom")
            return "ok"
        """
}
PY_EVENTS: list[tuple[object, dict[str, str]]] = [("a", {}), ("fail", {}), ("t", TENANT)]


def python_pair(
    tmp_path: Path,
    files: dict[str, str],
    events: list[tuple[object, dict[str, str]]],
    env: dict[str, str],
    *,
    handler: str = "app.handler",
    init_error: bool = False,
    runtime: str = "python3.11",
) -> tuple[Run, Run]:
    """The same handler and events under Lamina's Python runtime and awslambdaric."""
    task = tmp_path / "task"
    write(task, files)
    argv = lamina_argv(runtime)
    ours = run(argv, task, tmp_path / "lamina", handler, events, env, init_error=init_error)
    argv = ric_python_argv(handler)
    theirs = run(argv, task, tmp_path / "ric", handler, events, env, init_error=init_error)
    return ours, theirs


def same_records(tmp_path: Path, ours: Run, theirs: Run, stamp: re.Pattern[str]) -> list[Record]:
    """Our records, once they equal AWS's client's (timestamps by ``stamp``'s format)."""
    task = tmp_path / "task"
    mine = normalised(ours.records, stamp, task)
    assert mine == normalised(theirs.records, stamp, task)
    return mine


def compare_python(tmp_path: Path, ours: Run, theirs: Run) -> list[Record]:
    return same_records(tmp_path, ours, theirs, PY_TIME)


# awslambdaric runs under the virtualenv's 3.11; the newer interpreters' records (3.12 adds
# ``taskName`` to every record, None outside asyncio) must still be the same.
@pytest.mark.parametrize("runtime", ["python3.11", "python3.12", "python3.13"])
def test_python_json_records_match_awslambdaric(tmp_path: Path, runtime: str) -> None:
    ours, theirs = python_pair(
        tmp_path,
        PY_APP,
        PY_EVENTS,
        {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"},
        runtime=runtime,
    )
    records = compare_python(tmp_path, ours, theirs)
    by_message: dict[str, dict[str, object]] = {}
    for record in records:  # each message's first record (the first invoke's)
        by_message.setdefault(str(dict(record).get("message")), dict(record))
    # What the comparison covers, asserted so it cannot pass on two empty logs.
    assert by_message["init info"]["requestId"] == ""
    assert by_message["debug a"] == {
        "timestamp": "<time>", "level": "DEBUG", "message": "debug a", "logger": "app",
        "requestId": "req-0",
    }  # fmt: skip
    info = by_message["info\nwith a newline"]
    assert (info["order"], info["day"]) == ({"id": 7}, "2026-01-01")
    assert by_message["between info and warning"]["level"] == "INFO"
    exception = by_message["lookup failed"]
    assert list(exception) == [
        "timestamp", "level", "message", "logger", "stackTrace", "errorType", "errorMessage",
        "requestId", "location",
    ]  # fmt: skip
    assert exception["errorType"] == "KeyError"
    # The invoke's error: its answer's body, after a timestamp and the level.
    invoke_errors = [
        dict(r) for r in records if "errorType" in dict(r) and "message" not in dict(r)
    ]
    assert len(invoke_errors) == 1
    invoke_error = invoke_errors[0]
    assert list(invoke_error) == [
        "timestamp", "level", "errorMessage", "errorType", "requestId", "stackTrace",
    ]  # fmt: skip
    assert (invoke_error["errorType"], invoke_error["requestId"]) == ("ValueError", "req-1")
    assert 'raise ValueError("boom")' in str(invoke_error["stackTrace"])
    assert {dict(r).get("tenantId") for r in records} == {None, "tenant-1"}
    # print() is not a logging record: its text stays as it was written, in both.
    assert ours.lines == theirs.lines == ["printed", "as it is"] * 3


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("warn", {"WARNING", "ERROR", "CRITICAL"}),
        ("TRACE", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}),
        ("", {"WARNING", "ERROR", "CRITICAL"}),  # unset: Python's default, WARNING
        ("LOUD", {"WARNING", "ERROR", "CRITICAL"}),  # unknown: the level is left alone
    ],
)
def test_python_log_level_filters_like_awslambdaric(
    tmp_path: Path, level: str, expected: set[str]
) -> None:
    env = {"AWS_LAMBDA_LOG_FORMAT": "json"}
    if level:
        env["AWS_LAMBDA_LOG_LEVEL"] = level
    ours, theirs = python_pair(tmp_path, PY_APP, PY_EVENTS[:1], env)
    records = compare_python(tmp_path, ours, theirs)
    assert levels(records) == expected


def test_python_init_failure_in_json_matches_awslambdaric(tmp_path: Path) -> None:
    files = {
        "app.py": """
            import logging
            logging.getLogger().error("about to fail")
            raise RuntimeError("init broke")
        """
    }
    ours, theirs = python_pair(
        tmp_path, files, [], {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, init_error=True
    )
    records = [dict(r) for r in compare_python(tmp_path, ours, theirs)]
    assert [r["level"] for r in records] == ["ERROR", "WARNING", "ERROR"]
    assert str(records[1]["message"]).startswith("LAMBDA_WARNING: Unhandled exception.")
    assert (records[2]["errorType"], records[2]["requestId"]) == ("RuntimeError", "")


def test_python_text_format_lines_and_level_match_awslambdaric(tmp_path: Path) -> None:
    ours, theirs = python_pair(tmp_path, PY_APP, PY_EVENTS[:1], {"AWS_LAMBDA_LOG_LEVEL": "INFO"})
    line = re.compile(r"^\[(\w+)\]\t(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t([^\t]*)\t(.*)$")

    def logged(lines: list[str]) -> list[tuple[str, ...]]:
        return [(m[1], m[3], m[4]) for m in map(line.match, lines) if m]

    assert ours.records == theirs.records == []
    mine = logged(ours.lines)
    assert mine == logged(theirs.lines)
    assert {level for level, _, _ in mine} == {"INFO", "WARNING", "ERROR", "CRITICAL"}
    assert ("INFO", "", "init info") in mine


def test_python_json_format_still_loads_logging_only_when_used(tmp_path: Path) -> None:
    task = tmp_path / "task"
    write(
        task,
        {
            "app.py": "import sys\ndef handler(event, context):\n    return 'logging' in sys.modules\n"
        },
    )
    with FakeRuntimeApi() as api:
        variables = lambda_environment(
            api, task, "app.handler", AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="DEBUG"
        )
        with run_runtime(lamina_argv("python3.11"), variables, task, tmp_path / "logs") as rt:
            assert api.invoke({}, rt.process).json() is False


# --------------------------------------------------------------------------- Node.js

NODE_APP = {
    "app.js": """
        console.log('init');
        console.debug('init debug');
        class OrderError extends Error {
          constructor(message) { super(message); this.name = 'OrderError'; this.code = 42; }
        }
        exports.handler = async (event) => {
          console.log('hello %s', 'world', { n: 1 });
          console.info({ order: { id: 7 }, cause: new Error('inner') });
          console.info('multi\\nline');
          console.warn('careful');
          console.error(new OrderError('bad order'));
          console.error('two values', new Error('second'));
          console.debug('debug');
          console.trace('trace');
          console.fatal('fatal');
          console.log();
          const cycle = {}; cycle.self = cycle; console.log(cycle);
          console.log(10n);
          process.stdout.write('written as it is\\n');
          if (event === 'fail') throw new OrderError('boom');
          if (event === 'string') throw 'just a string';
          if (event === 'crash') {
            setTimeout(() => { throw new OrderError('crashed'); }, 1);
            return new Promise(() => {});
          }
          if (event === 'reject') {
            Promise.reject(new Error('rejected'));
            return new Promise(() => {});
          }
          return 'ok';
        };
        """
}
NODE_EVENTS: list[tuple[object, dict[str, str]]] = [
    ("a", {}), ("fail", {}), ("string", {}), ("t", TENANT),
]  # fmt: skip


def node_pair(
    tmp_path: Path,
    events: list[tuple[object, dict[str, str]]],
    env: dict[str, str],
    *,
    handler: str = "app.handler",
    files: dict[str, str] = NODE_APP,
    init_error: bool = False,
    exits: bool = False,
) -> tuple[Run, Run]:
    """The same handler and events under Lamina's nodejs20.x runtime and aws-lambda-ric."""
    task = tmp_path / "task"
    write(task, files)
    ric = ric_node_argv(handler)
    ours = run(
        lamina_argv("nodejs20.x"), task, tmp_path / "lamina", handler, events, env,
        init_error=init_error, exits=exits,
    )  # fmt: skip
    theirs = run(
        ric, task, tmp_path / "ric", handler, events, env, init_error=init_error, exits=exits
    )
    # aws-lambda-ric's command-line entry (not AWS's managed runtime) announces itself first.
    theirs.records = [
        r for r in theirs.records if not str(r.get("message", "")).startswith("Executing '")
    ]
    theirs.lines = [line for line in theirs.lines if not line.startswith("Executing '")]
    return ours, theirs


def compare_node(tmp_path: Path, ours: Run, theirs: Run) -> list[Record]:
    return same_records(tmp_path, ours, theirs, NODE_TIME)


def messages(records: list[Record], pick: Callable[[dict[str, object]], bool]) -> list[object]:
    return [dict(r).get("message") for r in records if pick(dict(r))]


def test_node_json_records_match_aws_lambda_ric(tmp_path: Path) -> None:
    ours, theirs = node_pair(
        tmp_path, NODE_EVENTS, {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "debug"}
    )
    records = compare_node(tmp_path, ours, theirs)
    first = [dict(r) for r in records if dict(r).get("requestId") == "req-0"]
    assert [r["level"] for r in first] == [
        "INFO", "INFO", "INFO", "WARN", "ERROR", "ERROR", "DEBUG", "FATAL", "INFO", "INFO",
        "INFO",
    ]  # fmt: skip
    assert first[0] == {
        "timestamp": "<time>", "level": "INFO", "requestId": "req-0",
        "message": "hello world { n: 1 }",
    }  # fmt: skip
    # An object stays an object; an Error inside it becomes errorType/errorMessage/stackTrace.
    cause = {"errorType": "Error", "errorMessage": "inner"}
    assert first[1]["message"] == {"order": {"id": 7}, "cause": {**cause, "stackTrace": ANY}}
    assert first[2]["message"] == "multi\nline"
    order = first[4]["message"]
    assert isinstance(order, dict) and list(order) == [
        "errorType", "errorMessage", "stackTrace", "name", "code",
    ]  # fmt: skip
    assert list(first[5]) == [
        "timestamp", "level", "requestId", "message", "errorType", "errorMessage", "stackTrace",
    ]  # fmt: skip
    assert "message" not in first[8]  # console.log(): no message key at all
    assert (first[9]["message"], first[10]["message"]) == (
        "<ref *1> { self: [Circular *1] }",
        "10n",
    )
    # INIT's lines have no request id; a tenant's lines carry it.
    assert [dict(r) for r in records[:2]] == [
        {"timestamp": "<time>", "level": "INFO", "message": "init"},
        {"timestamp": "<time>", "level": "DEBUG", "message": "init debug"},
    ]
    assert {dict(r).get("tenantId") for r in records} == {None, "tenant-1"}
    # process.stdout.write is not console: its text stays as it was written, in both.
    assert ours.lines == theirs.lines == ["written as it is"] * 4
    # The invoke errors: the error itself as an ERROR line's message.
    errors = messages(
        records, lambda r: r.get("requestId") in ("req-1", "req-2") and r["level"] == "ERROR"
    )
    assert errors[-1] == {
        "errorType": "Error",
        "errorMessage": "just a string",
        "stackTrace": ["Error: just a string"],
    }


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("WARN", {"WARN", "ERROR", "FATAL"}),
        ("fatal", {"FATAL"}),
        (None, {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}),
        ("LOUD", {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}),
    ],
)
def test_node_log_level_filters_like_aws_lambda_ric(
    tmp_path: Path, level: str | None, expected: set[str]
) -> None:
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON"}
    if level is not None:
        env["AWS_LAMBDA_LOG_LEVEL"] = level
    ours, theirs = node_pair(tmp_path, NODE_EVENTS[:2], env)
    records = compare_node(tmp_path, ours, theirs)
    assert levels(records) == expected
    # FATAL hides even the invoke's error line, as it hides console.error.
    assert any(
        dict(r).get("requestId") == "req-1" and dict(r)["level"] == "ERROR" for r in records
    ) == ("ERROR" in expected)


@pytest.mark.parametrize("event", ["crash", "reject"])
def test_node_uncaught_errors_in_json_match_aws_lambda_ric(tmp_path: Path, event: str) -> None:
    ours, theirs = node_pair(
        tmp_path,
        [(event, {})],
        {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "ERROR"},
        exits=True,
    )
    records = compare_node(tmp_path, ours, theirs)
    last = records[-1]
    expected_type = "OrderError" if event == "crash" else "UnhandledPromiseRejection"
    assert dict(last)["level"] == "ERROR"
    assert dict(last)["message"]["errorType"] == expected_type  # type: ignore[index]


def test_node_init_failure_in_json_matches_aws_lambda_ric(tmp_path: Path) -> None:
    ours, theirs = node_pair(
        tmp_path, [], {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, handler="missing.handler", init_error=True
    )
    records = compare_node(tmp_path, ours, theirs)
    assert [dict(r)["message"]["errorType"] for r in records] == ["ImportModuleError"]  # type: ignore[index]


def test_node_text_format_filters_levels_like_aws_lambda_ric(tmp_path: Path) -> None:
    files = {
        "app.js": """
            exports.handler = async () => {
              console.debug('debug'); console.info('info'); console.log('log');
              console.warn('warn'); console.error('error'); console.fatal('fatal');
              console.trace('trace');
              return 'ok';
            };
        """
    }
    ours, theirs = node_pair(tmp_path, [("a", {})], {"AWS_LAMBDA_LOG_LEVEL": "WARN"}, files=files)
    line = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t([^\t]+)\t([A-Z]+)\t(.*)$")

    def logged(lines: list[str]) -> list[tuple[str, ...]]:
        return [(m[2], m[3], m[4]) for m in map(line.match, lines) if m]

    assert ours.records == theirs.records == []
    mine = logged(ours.lines)
    assert mine == logged(theirs.lines) == [
        ("req-0", "WARN", "warn"), ("req-0", "ERROR", "error"), ("req-0", "FATAL", "fatal"),
    ]  # fmt: skip
