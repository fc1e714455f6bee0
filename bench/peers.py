"""The peers, run beside Lamina in the same bench run: MiniStack, serverless-offline v3,
cargo-lambda's emulator. Each is installed under ``build/peers/`` (never into Lamina's own
environment) by ``bash bench/install-peers.sh``; a peer that is missing or cannot run the
bench's functions is reported with the exact reason instead of a number.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.functions import WARM_FUNCTIONS, BenchFunction
from bench.load import Target
from bench.rawhttp import render_request
from bench.server import ROOT, TIMEOUT_S, bench_api, invoke_path
from bench.warm import WarmPlan, WarmResult, runs
from lamina.client.lambda_api import LambdaClient

PEERS = ROOT / "build" / "peers"
MINISTACK = PEERS / "venv" / "bin" / "ministack"
CARGO_LAMBDA = PEERS / "venv" / "bin" / "cargo-lambda"
SLS = PEERS / "sls" / "node_modules" / "serverless" / "bin" / "serverless.js"


@dataclass(slots=True)
class PeerResult:
    """What one peer could run: warm results per function, cold invokes, and what it could not."""

    peer: str
    version: str
    warm: list[WarmResult] = field(default_factory=list)
    cold_ms: dict[str, list[float]] = field(default_factory=dict)
    cannot: list[tuple[str, str]] = field(default_factory=list)  # (what, exactly why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port} within {timeout_s:g} s")


@contextlib.contextmanager
def running(cmd: list[str], port: int, cwd: Path, env: dict[str, str]) -> Iterator[Path]:
    """Run a peer's server in its own process group; yields the file with its output."""
    log = Path(tempfile.mkstemp(prefix="lamina-bench-peer-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_port(port, proc)
        yield log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.unlink(missing_ok=True)


def _warm(
    peer: PeerResult,
    fn: BenchFunction,
    target: Target,
    plan: WarmPlan,
    say: Callable[[str], None],
    warm_up: Callable[[], None],
) -> None:
    """Warm runs of ``fn``, one concurrency at a time: a run the peer fails is noted."""
    say(f"{peer.peer}: {fn.label}")
    for _ in range(5):
        warm_up()
    result = WarmResult(f"{peer.peer}-{fn.key}", f"{peer.peer}: {fn.label}")
    for c in plan.concurrencies:
        try:
            result.runs.update(runs(target, replace(plan, concurrencies=(c,)), say))
        except Exception as exc:
            say(f"  concurrency {c}: failed: {exc}")
            peer.cannot.append((f"{fn.label} at concurrency {c}", f"the run failed: {exc}"))
            break
    if 1 in result.runs:
        peer.warm.append(result)


def measure_ministack(plan: WarmPlan, say: Callable[[str], None], cold: int) -> PeerResult:
    """MiniStack: the Lambda API at its gateway port, functions run as local processes."""
    result = PeerResult("MiniStack", "")
    if not MINISTACK.exists():
        result.cannot.append(("everything", "not installed: run bash bench/install-peers.sh"))
        return result
    result.version = "ministack " + _pip_version("ministack")
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(
            [str(MINISTACK)],
            port,
            Path(tmp),
            {"GATEWAY_PORT": str(port), "LAMBDA_EXECUTOR": "local"},
        ),
    ):
        api = bench_api("127.0.0.1", port)
        try:
            for fn in WARM_FUNCTIONS:
                name = f"warm-{fn.key}"
                api.create_function(
                    name, fn.code(), fn.runtime, fn.handler, plan.memory_mb, timeout_s=TIMEOUT_S
                )
                target = Target("127.0.0.1", port, render_request("POST", invoke_path(name), b"{}"))
                _warm(result, fn, target, plan, say, _invoker(api, name))
                samples = []
                for i in range(cold):  # a new function's first invoke is its cold start
                    cold_name = f"cold-{fn.key}-{i}"
                    api.create_function(
                        cold_name, fn.code(), fn.runtime, fn.handler, 128, timeout_s=TIMEOUT_S
                    )
                    t0 = time.perf_counter()
                    _ok(api, cold_name)
                    samples.append((time.perf_counter() - t0) * 1000)
                result.cold_ms[fn.key] = samples
        finally:
            api.close()
    return result


def _pip_version(package: str) -> str:
    done = subprocess.run(
        [str(PEERS / "venv" / "bin" / "python"), "-m", "pip", "show", package],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "?"


def _invoker(api: LambdaClient, name: str) -> Callable[[], None]:
    def call() -> None:
        _ok(api, name)

    return call


def _ok(api: LambdaClient, name: str) -> None:
    """One invoke that must answer 200 (ClientError otherwise)."""
    api.invoke(name, b"{}", tail=False)


SLS_SERVICE = """\
service: bench
frameworkVersion: '3'
provider:
  name: aws
  region: us-east-1
  memorySize: {memory}
plugins:
  - serverless-offline
functions:
  python:
    handler: app.handler
    runtime: python3.11
  node:
    handler: index.handler
    runtime: nodejs20.x
"""


def measure_serverless_offline(plan: WarmPlan, say: Callable[[str], None]) -> PeerResult:
    """serverless-offline (Serverless Framework v3): its Lambda invoke endpoint."""
    result = PeerResult("serverless-offline", "")
    if not SLS.exists():
        result.cannot.append(("everything", "not installed: run bash bench/install-peers.sh"))
        return result
    pkg = PEERS / "sls" / "node_modules" / "serverless-offline" / "package.json"
    result.version = (
        "serverless-offline "
        + _json_version(pkg)
        + ", Serverless "
        + _json_version(PEERS / "sls" / "node_modules" / "serverless" / "package.json")
    )
    result.cannot.append(
        (
            "Rust bootstrap (provided.al2023)",
            "serverless-offline runs provided.* runtimes only in Docker (useDocker), and "
            "this machine has no Docker",
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        service = Path(tmp)
        (service / "serverless.yml").write_text(SLS_SERVICE.format(memory=plan.memory_mb))
        for fn in WARM_FUNCTIONS:
            for name, text in fn.inline:
                (service / name).write_text(text)
        (service / "node_modules").symlink_to(PEERS / "sls" / "node_modules")
        for fn in WARM_FUNCTIONS:
            if fn.runtime.startswith("provided"):
                continue
            # A fresh serverless-offline per function: one that falls over under load must
            # not take the next function's figures with it.
            lambda_port, http_port = free_port(), free_port()
            cmd = [
                shutil.which("node") or "node", str(SLS), "offline", "start",
                "--lambdaPort", str(lambda_port), "--httpPort", str(http_port),
                "--websocketPort", str(free_port()),
            ]  # fmt: skip
            try:
                with running(cmd, lambda_port, service, {"SLS_TELEMETRY_DISABLED": "1"}):
                    api = bench_api("127.0.0.1", lambda_port)
                    name = f"bench-dev-{fn.key}"
                    path = invoke_path(name)
                    target = Target("127.0.0.1", lambda_port, render_request("POST", path, b"{}"))
                    try:
                        _warm(result, fn, target, plan, say, _invoker(api, name))
                    finally:
                        api.close()
            except Exception as exc:
                say(f"serverless-offline: {fn.label} failed: {exc}")
                result.cannot.append((fn.label, f"the run failed: {exc}"))
    return result


def _json_version(path: Path) -> str:
    import json

    try:
        return str(json.loads(path.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "?"


CARGO_LAMBDA_WHY = (
    "its emulator (`cargo lambda watch --only-lambda-apis`, which works offline once given a "
    "Cargo.toml) serves the Runtime API under a path, `AWS_LAMBDA_RUNTIME_API="
    "http://[::]:PORT/.rt`, which only runtimes built on the `lambda_runtime` crate accept; "
    "the bench's Rust function is a std-only `bootstrap` (crates.io is unreachable here, so "
    "`lambda_runtime` cannot be built) that reads the documented `host:port` form and stops "
    "with `invalid port value`; without that flag `cargo lambda watch` compiles the function "
    "itself with cargo-watch, which needs the crates.io index"
)


def measure_cargo_lambda() -> PeerResult:
    result = PeerResult("cargo-lambda", "")
    if not CARGO_LAMBDA.exists():
        result.cannot.append(("everything", "not installed: run bash bench/install-peers.sh"))
        return result
    result.version = "cargo-lambda " + _pip_version("cargo-lambda")
    result.cannot.append(("Rust bootstrap (provided.al2023)", CARGO_LAMBDA_WHY))
    result.cannot.append(
        (
            "Python and Node no-ops",
            "cargo-lambda runs Rust functions only",
        )
    )
    return result


def measure_peers(
    plan: WarmPlan, say: Callable[[str], None], which: tuple[str, ...], cold: int
) -> list[PeerResult]:
    out: list[PeerResult] = []
    steps: tuple[tuple[str, Callable[[], PeerResult]], ...] = (
        ("ministack", lambda: measure_ministack(plan, say, cold)),
        ("serverless-offline", lambda: measure_serverless_offline(plan, say)),
        ("cargo-lambda", measure_cargo_lambda),
    )
    for peer, measure in steps:
        if peer not in which:
            continue
        try:
            out.append(measure())
        except Exception as exc:
            say(f"{peer}: failed: {exc}")
            failed = PeerResult(peer, "")
            failed.cannot.append(("everything", f"the run failed: {exc}"))
            out.append(failed)
    return out
