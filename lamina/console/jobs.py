"""The console's Tune and Compare buttons: ``lamina tune`` / ``lamina compare`` run as
child processes against this server, their ``--json`` answer kept for the page to draw.

The tools live in ``lamina/tools``, above the server in the layers, and they work through
the public API (they deploy variants, invoke, restore): running the real CLI as a client
is what a user would do, so the console shows exactly what ``lamina tune --json`` says.
A job signs with the logged-in access key. Bounded: two jobs at once, one per function,
the last 20 kept, each stopped after ``timeout_s``; only the tail of a failed run's
stderr is kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.errors import InvalidParameterValue, ResourceConflict

log = logging.getLogger(__name__)

MAX_RUNNING = 2
MAX_KEPT = 20
MAX_SIZES = 10
ERROR_TAIL = 4096
# ``python -c``: the CLI is the top of the house, nothing imports it (tests/test_imports.py).
CLI = "import sys; from lamina.cli.main import main; sys.exit(main())"


@dataclass
class Job:
    """One run of ``lamina tune`` or ``lamina compare``."""

    id: str
    kind: str  # "tune" | "compare"
    functions: tuple[str, ...]
    started: float
    status: str = "running"  # running | succeeded | failed
    result: object = None  # the command's --json answer, parsed
    error: str = ""
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "functions": list(self.functions),
            "status": self.status,
            "result": self.result,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class TuneForm:
    """What the page asks for, checked before any process starts."""

    sizes: tuple[int, ...]
    invocations: int
    payload: str

    @classmethod
    def parse(cls, body: bytes) -> TuneForm:
        try:
            raw = json.loads(body or b"{}")
        except ValueError:
            raise InvalidParameterValue("the request must be JSON") from None
        if not isinstance(raw, dict):
            raise InvalidParameterValue("the request must be a JSON object")
        try:
            sizes = tuple(int(s) for s in str(raw.get("memory", "128,512,1024")).split(","))
            invocations = int(raw.get("invocations", 5))
        except ValueError:
            raise InvalidParameterValue("memory is MB,MB,... and invocations a number") from None
        if not sizes or len(sizes) > MAX_SIZES or any(not 128 <= s <= 10240 for s in sizes):
            raise InvalidParameterValue(f"memory: 1 to {MAX_SIZES} sizes of 128 to 10240 MB")
        if not 1 <= invocations <= 100:
            raise InvalidParameterValue("invocations must be between 1 and 100")
        payload = str(raw.get("payload") or "{}")
        try:
            json.loads(payload)
        except ValueError:
            raise InvalidParameterValue("the payload must be JSON") from None
        return cls(sizes, invocations, payload)

    def argv(self) -> list[str]:
        return [
            "--memory",
            ",".join(str(s) for s in self.sizes),
            "-n",
            str(self.invocations),
            "--payload",
            self.payload,
            "--json",
        ]


class Jobs:
    """Runs and remembers tune and compare jobs."""

    def __init__(self, endpoint: Callable[[], str], timeout_s: float = 900.0) -> None:
        self._endpoint = endpoint
        self.timeout_s = timeout_s
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def start(
        self, kind: str, functions: tuple[str, ...], argv: list[str], credentials: tuple[str, str]
    ) -> Job:
        running = [j for j in self._jobs.values() if j.status == "running"]
        if any(set(j.functions) & set(functions) for j in running):
            raise ResourceConflict("a tune or compare of this function is already running")
        if len(running) >= MAX_RUNNING:
            raise ResourceConflict(f"{MAX_RUNNING} tune or compare jobs are running already")
        job = Job(uuid.uuid4().hex, kind, functions, time.time())
        self._jobs[job.id] = job
        while len(self._jobs) > MAX_KEPT:
            oldest = next(j for j in self._jobs.values())
            if oldest.status == "running":
                break
            self._jobs.popitem(last=False)
        job.task = asyncio.get_running_loop().create_task(
            self._run(job, [kind, *functions, *argv], credentials)
        )
        return job

    async def _run(self, job: Job, args: list[str], credentials: tuple[str, str]) -> None:
        key_id, secret = credentials
        env = {
            **os.environ,
            "LAMINA_ENDPOINT": self._endpoint(),
            "LAMINA_ACCESS_KEYS": f"{key_id}:{secret}",
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CLI,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            job.status, job.error = "failed", f"could not start lamina {job.kind}: {exc}"
            return
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            job.status, job.error = "failed", f"stopped after {self.timeout_s:.0f} s"
            return
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise
        try:
            job.result = json.loads(out) if out.strip() else None
        except ValueError:
            job.result = None
        tail = err.decode(errors="replace")[-ERROR_TAIL:]
        if proc.returncode == 0 and job.result is not None:
            job.status = "succeeded"
        else:
            job.status = "failed"
            job.error = tail or f"lamina {job.kind} exited with {proc.returncode}"
            log.warning("console %s of %s failed: %s", job.kind, job.functions, tail[-300:])
