"""Cold starts: N forced cold invokes per runtime, with Lambda's REPORT figures.

A cold start is forced the way a deploy forces one on Lambda: between invokes the bench
changes an environment variable with UpdateFunctionConfiguration, which retires the
function's warm environments, so the next invoke must start a new one. Each invoke asks
for the log tail, whose REPORT line carries ``Init Duration`` (present only on a cold
start) and ``Max Memory Used``; the client times the whole invoke round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.functions import COLD_FUNCTIONS, BenchFunction
from bench.server import TIMEOUT_S, LaminaServer
from lamina.client.http import ClientError
from lamina.client.lambda_api import LambdaClient


@dataclass(slots=True)
class ColdResult:
    """The forced cold starts of one function."""

    fn: BenchFunction
    memory_mb: int
    interpreter: str  # what actually ran the runtime on this host, e.g. "3.12.1"
    init_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    max_memory_mb: list[float] = field(default_factory=list)
    duration_ms: list[float] = field(default_factory=list)
    not_cold: int = 0  # invokes that found a warm environment after all
    failures: list[str] = field(default_factory=list)

    def summary(self, started: str = "init") -> str:
        """One line: the p50 of the starts (``started`` names what they measure), and how
        many invokes were cold, found a warm environment or failed."""
        starts = sorted(self.init_ms)
        p50 = starts[len(starts) // 2] if starts else float("nan")
        return (
            f"cold: {self.fn.key:<12} {self.memory_mb:>5} MB {started} p50 {p50:8.2f} ms "
            f"({len(starts)} cold, {self.not_cold} not cold, {len(self.failures)} failed)"
        )


def _one_cold_invoke(api: LambdaClient, name: str, result: ColdResult) -> None:
    try:
        answer = api.invoke(name, b"{}")
    except ClientError as exc:
        result.failures.append(f"{exc.status} {exc}"[:300])
        return
    if answer.function_error:
        result.failures.append(f"{answer.status} {answer.payload[:300]!r}")
        return
    report = answer.report
    if report is None:
        result.failures.append(f"no REPORT line in the log tail: {answer.log_tail[-300:]!r}")
        return
    start_ms = report.init_ms if report.init_ms is not None else report.restore_ms
    if start_ms is None:
        result.not_cold += 1
        return
    result.init_ms.append(start_ms)
    result.wall_ms.append(answer.wall_ms)
    result.max_memory_mb.append(float(report.max_memory_mb))
    result.duration_ms.append(report.duration_ms)


def measure_function(
    server: LaminaServer,
    fn: BenchFunction,
    count: int,
    interpreter: str,
    say: Callable[[str], None],
    memory_mb: int = 128,
) -> ColdResult:
    api = server.api()
    name = f"cold-{fn.key}-{memory_mb}"
    result = ColdResult(fn, memory_mb, interpreter)
    try:
        api.create_function(
            name,
            fn.code(),
            fn.runtime,
            fn.handler,
            memory_mb,
            timeout_s=TIMEOUT_S,
            environment={"BENCH_COLD": "0"},
        )
        for i in range(count):
            if i:
                api.set_variables(name, {"BENCH_COLD": str(i)})
            _one_cold_invoke(api, name, result)
    finally:
        api.close()
    say(result.summary("init"))
    for failure in result.failures[:3]:
        say(f"  failure: {failure}")
    return result


def measure_cold(
    server: LaminaServer,
    count: int,
    say: Callable[[str], None],
    memory_sizes: tuple[int, ...] = (128,),
) -> list[ColdResult]:
    """Every cold-start function at every memory size, one after the other."""
    api = server.api()
    try:
        runtimes = api.runtimes()
    finally:
        api.close()
    results = []
    for memory_mb in memory_sizes:
        for fn in COLD_FUNCTIONS:
            info = runtimes.get(fn.runtime, {})
            interpreter = fn.runs_on or " ".join(
                part for part in (info.get("interpreter", ""), info.get("version", "")) if part
            )
            results.append(measure_function(server, fn, count, interpreter, say, memory_mb))
    return results


# The same Python function with and without a zygote. A cold start is forced by a crash
# (``{"exit": true}`` ends the runtime, which retires the environment but keeps the
# zygote): a configuration change would make a new function version, hence a new zygote.
CRASHER = {
    "app.py": "import os\n\ndef handler(event, context):\n"
    "    if event.get('exit'):\n        os._exit(0)\n    return {}\n"
}


def measure_forked(
    server: LaminaServer, count: int, say: Callable[[str], None], memory_mb: int = 128
) -> list[ColdResult]:
    """Python 3.11 cold starts forced by a crash, with INIT each time and from a zygote."""
    from bench.functions import zip_files

    out = []
    for snap in (False, True):
        key = "py-zygote" if snap else "py-init"
        label = "same Python 3.11 function, " + ("zygote (SnapStart)" if snap else "INIT each time")
        fn = BenchFunction(key, label, "python3.11", "app.handler", inline=tuple(CRASHER.items()))
        api = server.api()
        name = f"forked-{key}-{memory_mb}"
        result = ColdResult(fn, memory_mb, "Restore Duration" if snap else "Init Duration")
        try:
            extra = {"SnapStart": {"ApplyOn": "PublishedVersions"}} if snap else None
            api.create_function(
                name,
                zip_files(CRASHER),
                fn.runtime,
                fn.handler,
                memory_mb,
                timeout_s=TIMEOUT_S,
                extra=extra,
            )
            api.invoke(
                name, b"{}", tail=False
            )  # the first cold start (it makes the zygote when there is one)
            for _ in range(count):
                api.invoke(name, b'{"exit": true}', tail=False)
                _one_cold_invoke(api, name, result)
        finally:
            api.close()
        say(result.summary("start"))
        out.append(result)
    return out
