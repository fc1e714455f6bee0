"""Where a cold start's time goes, step by step (``python -m bench.coldstart --steps``).

Drives the ``process`` tier directly, with the server's own parts and settings (own root
filesystem, network namespace from the pool, /tmp volume, seccomp), so the figures are
those of a cold start without the HTTP around it:

1. **platform, before the jail**: taking a ready network namespace from the pool, then
   ``ProcessSandbox.spawn`` (cgroup creation and limits, a /tmp volume from the pool,
   ``posix_spawn`` of ``lamina-jail``);
2. **the jail's steps**, from the timestamps it writes with ``-Z`` (joining the cgroups, the
   network namespace, ``unshare``, the mount tree, ``pivot_root``, dropping privileges);
3. **the runtime**, from its ``exec`` to its first ``GET /next`` on the namespace's Runtime
   API listener (which is when the REPORT's Init Duration ends);
4. **what the runtime's part is made of**, by running shorter commands the same way, each
   from its exec to the jail's exit, less the same figure of ``/bin/true`` (exec, exit and
   the namespaces' teardown): the interpreter alone (``-S``), with ``site``, with the
   bootstrap's imports;
5. for Python, how its modules were loaded up to the first ``/next`` (``python -v``): from
   cached bytecode, compiled from source, or frozen.

Needs root (cgroups, namespaces), like the process tier. Prints medians of ``count`` runs
after one warm-up each; the machine's load shows in the spread, so it prints the load too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import statistics
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.functions import EXAMPLES
from lamina.config import Settings
from lamina.runtimes.registry import RuntimeRegistry, runtime_dir
from lamina.sandbox import Limits, SandboxSpec, create_sandbox
from lamina.sandbox.process_tier import ProcessSandbox

# The bootstrap's own imports (see the top of lamina/runtimes/python/bootstrap.py).
PY_IMPORTS = "import _socket, importlib, importlib.machinery, json, os, sys, time"
NEXT = b"GET /2018-06-01/runtime/invocation/next"


@dataclass(frozen=True, slots=True)
class Subject:
    """One function whose cold start is broken down."""

    key: str
    runtime: str
    handler: str
    zip_name: str
    # Shorter commands run the same way: (label, argv after the interpreter), exec → exit.
    probes: tuple[tuple[str, tuple[str, ...]], ...] = ()


SUBJECTS = (
    Subject(
        "hello-py311",
        "python3.11",
        "app.handler",
        "hello-python.zip",
        (
            ("interpreter -S -c pass", ("-S", "-c", "pass")),
            ("interpreter -c pass (with site)", ("-c", "pass")),
            ("... + the bootstrap's imports", ("-c", PY_IMPORTS)),
        ),
    ),
    Subject(
        "hello-node",
        "nodejs20.x",
        "index.handler",
        "hello-node.zip",
        (("node -e 0", ("-e", "0")),),
    ),
    Subject("hello-rust", "provided.al2023", "bootstrap", "hello-rust.zip"),
)


@dataclass(slots=True)
class Steps:
    """Durations (ms) per step name, in first-seen order."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, ms: float) -> None:
        self.values.setdefault(name, []).append(ms)

    def lines(self) -> list[str]:
        out = []
        for name, vals in self.values.items():
            out.append(
                f"  {name:<44} {statistics.median(vals):7.2f} ms  "
                f"(min {min(vals):6.2f}, max {max(vals):6.2f})"
            )
        return out


def _unpack(zip_name: str, into: Path) -> Path:
    target = into / zip_name.removesuffix(".zip")
    with zipfile.ZipFile(EXAMPLES / zip_name) as zf:
        for info in zf.infolist():
            zf.extract(info, target)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (target / info.filename).chmod(mode)
    target.chmod(0o755)
    for path in target.rglob("*"):
        path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
    return target


def _environment(subject: Subject, runtime_argv: Sequence[str]) -> dict[str, str]:
    env = {
        "_HANDLER": subject.handler,
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_LAMBDA_FUNCTION_NAME": subject.key,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
        "/var/task:/var/task/lib:/opt/lib",
    }
    if subject.runtime.startswith("nodejs"):
        env["NODE_PATH"] = (
            "/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task"
        )
    return env


async def _read_trace(fd: int) -> list[tuple[str, int]]:
    """The jail's ``STEP NS`` lines, until every process of the jail closed the pipe."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    while True:
        chunk = await loop.run_in_executor(None, os.read, fd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    out = []
    for line in data.decode().splitlines():
        name, _, ns = line.partition(" ")
        out.append((name, int(ns)))
    return out


async def _first_next(sock: socket.socket) -> int:
    """Monotonic ns when the runtime's first ``GET /next`` has arrived on ``sock``."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    conn, _ = await loop.sock_accept(sock)
    buf = b""
    try:
        while NEXT not in buf or b"\r\n\r\n" not in buf:
            chunk = await loop.sock_recv(conn, 4096)
            if not chunk:
                raise RuntimeError(f"the runtime closed the Runtime API connection: {buf!r}")
            buf += chunk
        return time.monotonic_ns()
    finally:
        conn.close()


async def _one(
    sandbox: ProcessSandbox,
    spec: SandboxSpec,
    steps: Steps | None,
    until_next: bool,
) -> float:
    """One environment started the server's way; with ``until_next`` it is timed to the
    first ``/next``, else to its exit. Returns the runtime's share (exec → end) in ms."""
    assert sandbox.network is not None
    t0 = time.monotonic_ns()
    net = await sandbox.network.take()
    t_net = time.monotonic_ns()
    runtime_sock = net.take_runtime_socket()
    out_r, out_w = os.pipe()
    trace_r, trace_w = os.pipe()
    try:
        spec = dataclasses.replace(spec, netns_fd=net.fd)
        proc = await sandbox.spawn(spec, out_w, trace_fd=trace_w)
    finally:
        os.close(out_w)
        os.close(trace_w)
    try:
        trace_task = asyncio.ensure_future(_read_trace(trace_r))
        cpu_ns = 0
        if until_next:
            end = await asyncio.wait_for(_first_next(runtime_sock), 30)
            cpu_ns = proc.cpu_time_ns()
        else:
            await asyncio.wait_for(proc.wait(), 30)
            end = time.monotonic_ns()
        trace = await asyncio.wait_for(trace_task, 30)
    finally:
        await proc.kill()
        runtime_sock.close()
        net.close()
        os.close(out_r)
    exec_ns = dict(trace)["exec"]
    if steps is not None:
        steps.add("platform: take a network namespace (pool)", (t_net - t0) / 1e6)
        prev = t_net
        for name, ns in trace:
            label = (
                "platform: cgroup, /tmp volume, posix_spawn, jail main()"
                if name == "jail-started"
                else f"jail: {name}"
            )
            steps.add(label, (ns - prev) / 1e6)
            prev = ns
        steps.add("runtime: exec -> first /next", (end - exec_ns) / 1e6)
        steps.add("TOTAL (Init Duration without HTTP)", (end - t0) / 1e6)
        # CPU time hardly moves with the machine's load, unlike the wall-clock figures.
        steps.add("CPU time of the environment until /next", cpu_ns / 1e6)
    return (end - exec_ns) / 1e6


async def _subject(
    sandbox: ProcessSandbox, registry: RuntimeRegistry, subject: Subject, code: Path, count: int
) -> list[str]:
    cmd = registry.resolve(subject.runtime, sandbox.runtime_root(Path()))
    base = SandboxSpec(
        env_id="bench-x",
        argv=list(cmd.argv),
        env=_environment(subject, cmd.argv),
        code_dir=code,
        runtime_dir=runtime_dir(),
        limits=Limits(memory_mb=128, init_cpu_boost=True),
        expose=(cmd.prefix,) if cmd.prefix is not None else (),
    )
    steps = Steps()
    lines = [f"{subject.key} ({' '.join(cmd.argv)})"]
    for i in range(count + 1):
        spec = dataclasses.replace(base, env_id=f"bench-{subject.key}-{i}")
        await _one(sandbox, spec, steps if i else None, until_next=True)
    lines += steps.lines()
    # exec -> the jail's exit, which includes tearing the namespaces down: only the
    # differences to /bin/true's figure are the commands' own.
    probes: list[tuple[str, list[str]]] = [("/bin/true", ["/bin/true"])]
    probes += [(label, [cmd.interpreter, *args]) for label, args in subject.probes]
    floor = 0.0
    for label, argv in probes:
        took = []
        for i in range(count + 1):
            spec = dataclasses.replace(base, env_id=f"bench-{subject.key}-p{i}", argv=argv)
            ms = await _one(sandbox, spec, None, until_next=False)
            if i:
                took.append(ms)
        ms = statistics.median(took)
        if argv == ["/bin/true"]:
            floor = ms
            lines.append(f"  probe: {label:<37} {ms:7.2f} ms  (exec -> exit and teardown)")
        else:
            lines.append(f"  probe: {label:<37} {ms - floor:7.2f} ms  (more than /bin/true)")
    if subject.runtime.startswith("python"):
        verbose = [cmd.interpreter, "-v", *cmd.argv[1:]]
        text = await _output(sandbox, dataclasses.replace(base, env_id="bench-v", argv=verbose))
        lines.append("  " + bytecode_summary(text))
    return lines


def bytecode_summary(verbose: str) -> str:
    """How the modules of a ``python -v`` run were loaded: from cached bytecode, compiled
    from source (``could not create`` / ``created`` its cache), or frozen (pure)."""
    cached = verbose.count("# code object from '")
    compiled = [
        line.split("'")[1].rpartition("/__pycache__/")[2].split(".")[0]
        for line in verbose.splitlines()
        if line.startswith(("# could not create '", "# created '"))
    ]
    frozen = verbose.count("FrozenImporter")
    return (
        f"bytecode: {cached} modules from cached .pyc, {len(compiled)} compiled from source "
        f"({', '.join(compiled) or 'none'}), {frozen} frozen (python -v, to the first /next)"
    )


async def _output(sandbox: ProcessSandbox, spec: SandboxSpec) -> str:
    """What a runtime writes until its first ``/next`` (stdout and stderr)."""
    assert sandbox.network is not None
    net = await sandbox.network.take()
    runtime_sock = net.take_runtime_socket()
    out_r, out_w = os.pipe()
    proc = await sandbox.spawn(dataclasses.replace(spec, netns_fd=net.fd), out_w)
    os.close(out_w)
    # Read while it runs: -v writes more than a pipe holds.
    reading = asyncio.get_running_loop().run_in_executor(None, _read_all, out_r)
    try:
        await asyncio.wait_for(_first_next(runtime_sock), 30)
    finally:
        await proc.kill()
        runtime_sock.close()
        net.close()
    return (await reading).decode(errors="replace")


def _read_all(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as out:
        return out.read()


async def _main(count: int) -> int:
    with tempfile.TemporaryDirectory(prefix="lamina-coldsteps-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", isolation="process")
        created = create_sandbox(settings, cgroup_group=f"lamina-coldsteps-{os.getpid()}")
        if not isinstance(created, ProcessSandbox):
            print("the process tier is not available here (needs root and cgroups)")
            return 1
        sandbox = created
        try:
            if sandbox.network is not None:
                sandbox.network.start(None, None)
            sandbox.warm_up()
            await asyncio.sleep(1.0)  # let the pools fill, as a running server's are
            registry = RuntimeRegistry({})
            print(f"# cold-start steps, 128 MB, medians of {count}; load {os.getloadavg()}")
            for subject in SUBJECTS:
                code = _unpack(subject.zip_name, Path(tmp))
                for line in await _subject(sandbox, registry, subject, code, count):
                    print(line, flush=True)
        finally:
            sandbox.close()
    return 0


def main(count: int) -> int:
    return asyncio.run(_main(count))
