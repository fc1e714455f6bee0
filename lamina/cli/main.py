"""``lamina`` — the command line. Every command but ``serve`` is a client of the HTTP API."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from lamina.cli.command import endpoint_of, run
from lamina.cli.down import add_down_parser
from lamina.cli.inference import Inferred, infer
from lamina.cli.schedule import add_schedule_parser
from lamina.cli.tools import register as register_tools
from lamina.cli.up import add_up_parser
from lamina.cli.workflow import add_workflow_parser
from lamina.client.http import Client, ClientError, fn_path
from lamina.config import load_settings
from lamina.store.code import zip_directory
from lamina.terminal import dump_json, paint, table


def _parse_env(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ClientError(f"--env takes KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


def _read_payload(raw: str | None) -> bytes:
    if raw is None:
        return b"{}"
    if raw.startswith("@"):
        return Path(raw[1:]).read_bytes()
    return raw.encode()


# -- commands ------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from lamina.sam.serverside import server_deployer
    from lamina.server import run

    settings = load_settings(
        os.environ,
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        isolation=args.isolation,
        cluster=args.cluster,
    )
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run(settings, deployer=server_deployer(settings))
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    client = Client(endpoint_of(args))
    source = Path(args.source)
    if source.is_dir():
        data = zip_directory(source)
    elif source.is_file():
        data = source.read_bytes()
    else:
        raise ClientError(f"{source} is neither a directory nor a zip file")
    zip_b64 = base64.b64encode(data).decode()
    runtime, handler = args.runtime, args.handler
    if not (runtime and handler) and not _function_exists(client, args.name):
        guess = _infer(client, data, str(source))
        runtime, handler = runtime or guess.runtime, handler or guess.handler
        print(f"inferred --runtime {runtime} --handler {handler} {guess.reason}", file=sys.stderr)
    config: dict[str, Any] = {"Runtime": runtime, "Handler": handler}
    if args.memory is not None:
        config["MemorySize"] = args.memory
    if args.timeout is not None:
        config["Timeout"] = args.timeout
    if args.env:
        config["Environment"] = {"Variables": _parse_env(args.env)}
    if args.description is not None:
        config["Description"] = args.description
    if args.ephemeral is not None:
        config["EphemeralStorage"] = {"Size": args.ephemeral}
    try:
        cfg = client.call(
            "POST",
            "/2015-03-31/functions",
            {
                "FunctionName": args.name,
                "Code": {"ZipFile": zip_b64},
                "Architectures": [args.arch],
                **config,
            },
            ok=(201,),
        )
        action = "created"
    except ClientError as exc:
        if exc.error_type != "ResourceConflictException":
            raise
        # An existing function keeps what was not asked for explicitly.
        config = {k: v for k, v in config.items() if v}
        if not args.runtime:
            config.pop("Runtime", None)
        if not args.handler:
            config.pop("Handler", None)
        client.call(
            "PUT", fn_path(args.name) + "/code", {"ZipFile": zip_b64, "Architectures": [args.arch]}
        )
        cfg = client.call("PUT", fn_path(args.name) + "/configuration", config)
        action = "updated"
    if args.json:
        dump_json(cfg)
    else:
        print(
            f"{paint(action, 'green')} {cfg['FunctionName']} ({cfg['Runtime']}, "
            f"{cfg['MemorySize']} MB, {cfg['CodeSize']} bytes, sha256 {cfg['CodeSha256']})"
        )
    return 0


def _function_exists(client: Client, name: str) -> bool:
    try:
        client.call("GET", fn_path(name))
    except ClientError as exc:
        if exc.error_type == "ResourceNotFoundException":
            return False
        raise
    return True


def _infer(client: Client, package: bytes, source: str) -> Inferred:
    """Runtime and handler from the package's root files and the server's runtime table."""
    try:
        table = client.call("GET", "/lamina/v1/runtimes")["runtimes"]
    except (ClientError, KeyError, TypeError):
        table = []
    try:
        with zipfile.ZipFile(io.BytesIO(package)) as zf:
            names = [n for n in zf.namelist() if "/" not in n]

            def read(name: str) -> str:
                return zf.read(name)[:1_000_000].decode("utf-8", errors="replace")

            return infer(names, read, table, source=source)
    except zipfile.BadZipFile:
        raise ClientError(f"{source} is not a zip file") from None


def cmd_invoke(args: argparse.Namespace) -> int:
    client = Client(endpoint_of(args))
    headers = {"X-Amz-Invocation-Type": args.type}
    if args.tail:
        headers["X-Amz-Log-Type"] = "Tail"
    path = fn_path(args.function) + "/invocations"
    if args.qualifier:
        path += f"?Qualifier={args.qualifier}"
    answer = client.request("POST", path, _read_payload(args.payload), headers, ok=(200, 202, 204))
    error = answer.headers.get("x-amz-function-error")
    tail = base64.b64decode(answer.headers.get("x-amz-log-result", "")).decode(errors="replace")
    if args.json:
        dump_json(
            {
                "StatusCode": answer.status,
                "FunctionError": error,
                "ExecutedVersion": answer.headers.get("x-amz-executed-version"),
                "LogResult": tail or None,
                "Payload": answer.body.decode(errors="replace"),
            }
        )
    else:
        if tail:
            print(paint(tail.rstrip("\n"), "dim"), file=sys.stderr)
        if answer.body:
            print(answer.body.decode(errors="replace"))
        elif answer.status == 202:
            print(f"accepted (request {answer.headers.get('x-amzn-requestid', '?')})")
    return 1 if error else 0


def cmd_logs(args: argparse.Namespace) -> int:
    """The function's log (the log store); with ``--follow``, then its telemetry events as
    they happen (the server's telemetry bus: the events the Telemetry API delivers)."""
    client = Client(endpoint_of(args))
    base = f"/lamina/v1/functions/{args.function}"
    since = int((time.time() - args.since) * 1000) if args.since else 0
    # Where the bus is now, before the history: nothing that happens meanwhile is missed.
    after = client.call("GET", f"{base}/telemetry?limit=0")["last"] if args.follow else 0
    body = client.call("GET", f"{base}/logs?since={since}")
    for event in body["events"]:
        _print_event(event, event["timestamp"], event["message"], as_json=args.json)
    while args.follow:
        sys.stdout.flush()
        time.sleep(0.5)
        body = client.call("GET", f"{base}/telemetry?after={after}")
        for event in body["events"]:
            _print_event(event, event["time"], event["text"], as_json=args.json)
        after = body["last"]
    return 0


def _print_event(event: dict[str, Any], time_ms: float, text: str, *, as_json: bool) -> None:
    """One log or telemetry event: as JSON, or as its UTC time and text."""
    if as_json:
        print(json.dumps(event))
    else:
        stamp = time.strftime("%H:%M:%S", time.gmtime(time_ms / 1000))
        print(f"{paint(stamp, 'dim')} {text}")


def cmd_ls(args: argparse.Namespace) -> int:
    client = Client(endpoint_of(args))
    functions: list[dict[str, Any]] = []
    marker = ""
    while True:
        body = client.call("GET", f"/2015-03-31/functions/?MaxItems=50&Marker={marker}")
        functions.extend(body["Functions"])
        marker = body.get("NextMarker") or ""
        if not marker:
            break
    if args.json:
        dump_json(functions)
        return 0
    table(
        ["NAME", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "ARCH", "CODE", "MODIFIED"],
        [
            [
                f["FunctionName"],
                f["Runtime"],
                f["Handler"],
                f"{f['MemorySize']} MB",
                f"{f['Timeout']} s",
                f["Architectures"][0],
                f["CodeSize"],
                f["LastModified"],
            ]
            for f in functions
        ],
    )
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    client = Client(endpoint_of(args))
    for name in args.functions:
        client.request("DELETE", fn_path(name), ok=(204,))
        if not args.json:
            print(f"{paint('deleted', 'yellow')} {name}")
    if args.json:
        dump_json({"Deleted": args.functions})
    return 0


def cmd_runtimes(args: argparse.Namespace) -> int:
    client = Client(endpoint_of(args))
    rows = client.call("GET", "/lamina/v1/runtimes")["runtimes"]
    if args.json:
        dump_json(rows)
        return 0
    table(
        ["RUNTIME", "INTERPRETER", "VERSION", "NOTE"],
        [
            [r["runtime"], r["interpreter"] or "(function's bootstrap)", r["version"], r["note"]]
            for r in rows
        ],
    )
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    client = Client(endpoint_of(args))
    body = client.call("GET", "/lamina/v1/cluster")
    if args.json:
        dump_json(body)
        return 0
    table(
        ["NODE", "ADDRESS", "STATE", "MEMORY MB (USED/FOR ENVS)", "CPUS", "BUSY", "IDLE ENVS"],
        [
            [
                n["node_id"][:16],
                n["address"],
                "alive" if n["alive"] else "lost",
                f"{n['used_mb']}/{n['capacity_mb']}",
                f"{n['cpus']:g}",
                str(n["busy"]),
                ", ".join(f"{k} x{v}" for k, v in sorted(n["idle"].items()) if v) or "-",
            ]
            for n in body["nodes"]
        ],
    )
    print(
        f"unmet cold starts: {body['unmet']} ({body['unmet_mb']} MB); "
        f"invokes lost with a node: {body['lost_invokes']}"
    )
    return 0


# -- parser --------------------------------------------------------------------------
def lamina_version() -> str:
    """The installed package's version (a source checkout not installed says so)."""
    try:
        return metadata.version("lamina")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lamina", description="AWS Lambda you can run anywhere.")
    parser.add_argument("--version", action="version", version=f"lamina {lamina_version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--endpoint",
        help="Lamina's URL (default: LAMINA_ENDPOINT, or http://LAMINA_HOST:LAMINA_PORT)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the Lamina server")
    p.add_argument(
        "--host",
        help="address to listen on (default: LAMINA_HOST, or 127.0.0.1: this machine only)",
    )
    p.add_argument(
        "--port", type=int, help="port for every API and service (default: LAMINA_PORT, or 9000)"
    )
    p.add_argument(
        "--data-dir",
        help="where functions, code, logs and the ledger live (default: LAMINA_DATA_DIR, or "
        "~/.local/share/lamina); one server per data directory",
    )
    p.add_argument(
        "--isolation",
        choices=["auto", "process", "none"],
        help="sandbox tier: process (cgroups + namespaces, needs root), none (rlimits only), "
        "auto (process when possible; default: LAMINA_ISOLATION, or auto)",
    )
    p.add_argument(
        "--cluster",
        metavar="RAY_ADDRESS",
        help="run functions on the nodes of this Ray cluster (its head's host:port, or auto); "
        "this process is the control plane (default: LAMINA_CLUSTER, or one machine)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("deploy", parents=[common], help="create or update a function")
    p.add_argument("source", help="a directory (zipped for you) or a .zip file")
    p.add_argument("--name", required=True, help="the function's name")
    p.add_argument(
        "--runtime",
        default="",
        help="python3.12, nodejs20.x, provided.al2023, ... (default for a new function: "
        "inferred from app.py / lambda_function.py, index.mjs / index.js, or bootstrap)",
    )
    p.add_argument(
        "--handler",
        default="",
        help="module.function, e.g. app.handler (default for a new function: the "
        "handler or lambda_handler the file defines)",
    )
    p.add_argument("--memory", type=int, help="memory in MB, 128-10240 (default 128)")
    p.add_argument("--timeout", type=int, help="timeout in seconds, 1-900 (default 3)")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable (repeat for more)",
    )
    p.add_argument(
        "--arch", default="x86_64", choices=["x86_64", "arm64"], help="architecture (billing)"
    )
    p.add_argument("--ephemeral", type=int, help="/tmp size in MB (512-10240)")
    p.add_argument("--description", help="the function's description")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("invoke", parents=[common], help="invoke a function")
    p.add_argument("function", help="function name or ARN")
    p.add_argument("--payload", help="JSON text, or @file")
    p.add_argument("--qualifier", help="a version number or alias (default $LATEST)")
    p.add_argument(
        "--type",
        default="RequestResponse",
        choices=["RequestResponse", "Event", "DryRun"],
        help="RequestResponse waits for the answer; Event queues it (202); DryRun checks only",
    )
    p.add_argument("--tail", action="store_true", help="print the last 4 KB of the log")
    p.set_defaults(func=cmd_invoke)

    p = sub.add_parser("logs", parents=[common], help="print a function's logs")
    p.add_argument("function", help="function name")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    p.add_argument("--since", type=float, help="only the last N seconds")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("ls", parents=[common], help="list functions")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("rm", parents=[common], help="delete functions")
    p.add_argument("functions", nargs="+", help="function names")
    p.set_defaults(func=cmd_rm)

    # The cost tools: cost, tune, compare, bench coldstart.
    register_tools(sub, common, endpoint_of)
    add_up_parser(sub)
    add_down_parser(sub)
    add_schedule_parser(sub, common)
    add_workflow_parser(sub, common)

    p = sub.add_parser("runtimes", parents=[common], help="which interpreter runs each runtime")
    p.set_defaults(func=cmd_runtimes)

    p = sub.add_parser("cluster", help="the Ray cluster's nodes (lamina serve --cluster)")
    cluster = p.add_subparsers(dest="cluster_command", required=True)
    p = cluster.add_parser(
        "status", parents=[common], help="nodes, their capacity and their environments"
    )
    p.set_defaults(func=cmd_cluster_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
