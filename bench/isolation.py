"""What the sandbox's isolation costs a cold start: the same functions, servers side by side.

Starts one ``lamina serve`` per configuration (a source tree plus ``LAMINA_*`` settings),
deploys hello-rust and hello-python (or ``--functions``) to each, then forces cold starts
round-robin across the servers (UpdateFunctionConfiguration before every invoke, as
``bench.cold`` does), so
a load spike on a shared machine hits every configuration alike. Prints, per function
and configuration, the p50 of the client's whole cold invoke (``e2e``) and of ``Init
Duration`` from the REPORT line, and each configuration's difference from the first.
With ``--warm ROUNDS`` it then measures the warm path the same way: rounds of 200
sequential invokes on one keep-alive connection per server, round-robin, and the p50.

    .venv/bin/python -m bench.isolation --count 40 \\
        --config before=/work/main --config after=. \\
        --config after-no-net=.:LAMINA_NETWORK_ISOLATION=false
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.functions import COLD_FUNCTIONS, BenchFunction
from bench.rawhttp import RawConnection, render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path


@dataclass
class Config:
    name: str
    tree: Path
    env: dict[str, str]
    e2e: dict[str, list[float]] = field(default_factory=dict)
    init: dict[str, list[float]] = field(default_factory=dict)
    warm: dict[str, list[float]] = field(default_factory=dict)


def parse_config(text: str) -> Config:
    """``name=TREE[:VAR=VALUE,VAR=VALUE]``."""
    name, _, rest = text.partition("=")
    tree, _, variables = rest.partition(":")
    env = dict(v.split("=", 1) for v in variables.split(",") if v)
    return Config(name, Path(tree).resolve(), env)


class TreeServer(LaminaServer):
    """``lamina serve`` from another source tree, with extra settings."""

    def __init__(self, tree: Path, env: dict[str, str]) -> None:
        super().__init__(isolation="process")
        self._tree, self._env = tree, env

    def start(self) -> LaminaServer:
        saved = dict(os.environ)
        os.environ.update(self._env)
        os.environ["PYTHONPATH"] = str(self._tree)
        try:
            import bench.server as server_module

            root, server_module.ROOT = server_module.ROOT, self._tree
            try:
                return super().start()
            finally:
                server_module.ROOT = root
        finally:
            os.environ.clear()
            os.environ.update(saved)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--config", action="append", required=True, type=parse_config)
    p.add_argument("--warm", type=int, default=0, metavar="ROUNDS", help="warm rounds (0: none)")
    p.add_argument(
        "--functions",
        nargs="+",
        default=["hello-rust", "hello-py311"],
        choices=[f.key for f in COLD_FUNCTIONS],
    )
    args = p.parse_args()
    functions: list[BenchFunction] = [f for f in COLD_FUNCTIONS if f.key in args.functions]
    configs: list[Config] = args.config
    servers = [TreeServer(c.tree, c.env).start() for c in configs]
    try:
        apis = [s.api() for s in servers]
        for api in apis:
            for f in functions:
                api.create_function(f.key, f.code(), f.runtime, f.handler, 128, timeout_s=TIMEOUT_S)
        for i in range(args.count + 2 if args.count else 0):
            for f in functions:
                for config, api in zip(configs, apis, strict=True):
                    api.set_variables(f.key, {"RUN": str(i)})
                    t0 = time.perf_counter()
                    answer = api.invoke(f.key, b"{}", tail=True)
                    e2e = (time.perf_counter() - t0) * 1000
                    if i < 2:
                        continue  # warm-up: first unpack, first interpreter start
                    report = answer.report
                    if report is None or report.init_ms is None:
                        print(f"{config.name} {f.key}: not a cold start", file=sys.stderr)
                        continue
                    config.e2e.setdefault(f.key, []).append(e2e)
                    config.init.setdefault(f.key, []).append(report.init_ms)
        if args.count:
            print("| function | configuration | e2e p50 ms | Init p50 ms | e2e p50 vs first ms |")
            print("|---|---|---|---|---|")
            for f in functions:
                base = statistics.median(configs[0].e2e[f.key])
                for config in configs:
                    e2e = statistics.median(config.e2e[f.key])
                    init = statistics.median(config.init[f.key])
                    print(
                        f"| {f.key} | {config.name} | {e2e:.2f} | {init:.2f} | {e2e - base:+.2f} |"
                    )
        if args.warm:
            measure_warm(functions, configs, servers, args.warm)
        for server in servers:
            for line in server.warnings():
                print(f"server warning: {line}", file=sys.stderr)
    finally:
        for server in servers:
            server.stop()


def measure_warm(
    functions: list[BenchFunction], configs: list[Config], servers: list[LaminaServer], rounds: int
) -> None:
    """Warm p50 per configuration: rounds of 200 sequential invokes, round-robin."""
    conns = [RawConnection(s.host, s.port) for s in servers]
    try:
        for f in functions:
            request = render_request("POST", invoke_path(f.key), b"{}")
            for conn in conns:  # warm every environment (and the connection) first
                for _ in range(50):
                    conn.send_raw(request)
            for _ in range(rounds):
                for config, conn in zip(configs, conns, strict=True):
                    times = config.warm.setdefault(f.key, [])
                    for _ in range(200):
                        t0 = time.perf_counter()
                        answer = conn.send_raw(request)
                        times.append((time.perf_counter() - t0) * 1000)
                        if answer.status != 200:
                            print(f"{config.name} {f.key}: {answer.status}", file=sys.stderr)
    finally:
        for conn in conns:
            conn.close()
    print("| function | configuration | warm p50 ms | warm p90 ms | p50 vs first |")
    print("|---|---|---|---|---|")
    for f in functions:
        base = statistics.median(configs[0].warm[f.key])
        for config in configs:
            times = sorted(config.warm[f.key])
            p50, p90 = statistics.median(times), times[int(len(times) * 0.9)]
            print(
                f"| {f.key} | {config.name} | {p50:.3f} | {p90:.3f} | {(p50 / base - 1) * 100:+.1f} % |"
            )


if __name__ == "__main__":
    main()
