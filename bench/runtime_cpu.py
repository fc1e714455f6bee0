"""``python -m bench.runtime_cpu``: a runtime's own CPU per invoke, by how warm it is.

Starts one runtime process exactly as the registry commands it (``nodejs20.x``: ``node``
with AWS's flags and ``bootstrap.mjs``; ``python3.11``: ``start.py``), outside any
sandbox, against a minimal Runtime API served here (asyncio, loopback), with a no-op
handler. Events go one at a time; after each window of invokes it reads the process's
CPU time (the sum of its threads' ``/proc/<pid>/task/*/schedstat`` run time, in ns) and
prints the CPU per invoke of that window. The first window holds the process's start.

This isolates the runtime from the platform: no server, no cgroup, no jail. What it
shows is how the cost of an invoke falls as the interpreter warms up, which is what a
high concurrency exposes (each of 64 environments serves 1/64 of the events).

``--gaps`` then measures the other thing a high concurrency does to an environment: with
64 of them on two cores each one waits ~20-30 ms for its next event while the others run,
and its next invoke starts with its memory out of the CPU's caches. After the marks, the
same warm process serves ``--gap-invokes`` events per gap, pausing that many ms after
each answer, and the CPU per invoke is printed per gap.

    python -m bench.runtime_cpu --runtime nodejs20.x --marks 20,120,1000,5000 --repeat 3
    python -m bench.runtime_cpu --runtime python3.11 --marks 2000 --gaps 0,2,10,30
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from lamina.runtimes.registry import RuntimeRegistry, runtime_dir

HANDLERS = {
    "node": ("index.mjs", "export const handler = async () => ({});\n"),
    "python": ("index.py", "def handler(event, context):\n    return {}\n"),
}
ACCEPTED = b'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"status":"OK"}'


def cpu_ns(pid: int) -> int:
    """Run time of every thread of ``pid`` so far."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended between the listing and the read
    return total


def event_answer(request_id: str) -> bytes:
    payload = b"{}"
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Lambda-Runtime-Aws-Request-Id: {request_id}\r\n"
        f"Lambda-Runtime-Deadline-Ms: {int(time.time() * 1000) + 60_000}\r\n"
        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:fn\r\n"
        "Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


class MiniRuntimeApi:
    """Serves queued events to ``/next`` and counts answers; ``None`` ends the runtime."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[str | None] = asyncio.Queue()
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                if method == "GET":
                    request_id = await self.events.get()
                    if request_id is None:
                        writer.write(b"HTTP/1.1 500 Stop\r\nContent-Length: 0\r\n\r\n")
                        await writer.drain()
                        return
                    writer.write(event_answer(request_id))
                else:
                    writer.write(ACCEPTED)
                    self.answers.put_nowait(head)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def run_once(
    runtime: str,
    marks: list[int],
    memory_mb: int,
    root: Path | None = None,
    flags: bool = True,
    gaps_ms: tuple[float, ...] = (),
    gap_invokes: int = 300,
) -> list[float]:
    """CPU µs per invoke for each window ``(marks[i-1], marks[i]]``, then for each gap of
    ``gaps_ms`` (``gap_invokes`` events, that pause after each); ``root``: another copy of
    ``lamina/runtimes`` to run (an older checkout's, to compare); ``flags``: with the
    memory-size flags the platform passes (Node)."""
    where = str(root or runtime_dir())
    registry = RuntimeRegistry({})
    argv = registry.resolve(runtime, where, memory_mb=memory_mb if flags else None).argv
    name, source = HANDLERS["node" if runtime.startswith("nodejs") else "python"]
    with tempfile.TemporaryDirectory(prefix="runtime-cpu-") as task:
        Path(task, name).write_text(source)
        return asyncio.run(_drive(argv, task, marks, memory_mb, gaps_ms, gap_invokes))


async def _drive(
    argv: tuple[str, ...],
    task: str,
    marks: list[int],
    memory_mb: int,
    gaps_ms: tuple[float, ...] = (),
    gap_invokes: int = 300,
) -> list[float]:
    api = MiniRuntimeApi()
    server = await asyncio.start_server(api.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = {
        "PATH": "/usr/bin:/bin",
        "_HANDLER": "index.handler",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "LAMBDA_TASK_ROOT": task,
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    }
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=task, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        out: list[float] = []
        done, last = 0, cpu_ns(proc.pid)
        for mark in marks:
            start = done
            while done < mark:
                api.events.put_nowait(str(uuid.uuid4()))
                await asyncio.wait_for(api.answers.get(), 30)
                done += 1
            now = cpu_ns(proc.pid)
            out.append((now - last) / (mark - start) / 1000)
            last = now
        for gap_ms in gaps_ms:
            for _ in range(gap_invokes):
                api.events.put_nowait(str(uuid.uuid4()))
                await asyncio.wait_for(api.answers.get(), 30)
                await asyncio.sleep(gap_ms / 1000)
            now = cpu_ns(proc.pid)
            out.append((now - last) / gap_invokes / 1000)
            last = now
        api.events.put_nowait(None)
    finally:
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        server.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.runtime_cpu", description=__doc__)
    p.add_argument("--runtime", default="nodejs20.x")
    p.add_argument("--marks", default="20,120,1000,5000", help="cumulative invoke counts")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--memory", type=int, default=1769, metavar="MB")
    p.add_argument("--runtimes-dir", type=Path, default=None, metavar="DIR",
                   help="run the bootstrap of this lamina/runtimes instead (A/B)")  # fmt: skip
    p.add_argument("--no-flags", action="store_true", help="start node without AWS's flags")
    p.add_argument("--gaps", default="", metavar="MS,...",
                   help="after the marks: events that pause this many ms after each answer")  # fmt: skip
    p.add_argument("--gap-invokes", type=int, default=300, help="events per gap")
    args = p.parse_args(argv)
    marks = [int(m) for m in args.marks.split(",")]
    if not marks or marks != sorted(set(marks)) or marks[0] < 1:
        p.error("--marks must be increasing positive counts")
    gaps = tuple(float(g) for g in args.gaps.split(",") if g)
    if any(g < 0 for g in gaps) or args.gap_invokes < 1:
        p.error("--gaps must be pauses of 0 ms or more, --gap-invokes at least 1")
    bounds = [0, *marks]
    heads = [f"{a}-{b}" for a, b in zip(bounds, marks, strict=False)]
    heads += [f"gap {g:g} ms" for g in gaps]
    print("| run | " + " | ".join(heads) + " |")
    print("|---|" + "---|" * len(heads))
    for i in range(args.repeat):
        per = run_once(
            args.runtime,
            marks,
            args.memory,
            args.runtimes_dir,
            not args.no_flags,
            gaps,
            args.gap_invokes,
        )
        print(f"| {i + 1} | " + " | ".join(f"{v:,.0f} µs" for v in per) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
