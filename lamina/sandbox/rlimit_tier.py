"""The ``rlimits`` fallback tier: no root or no cgroups, so only per-process limits.

What it enforces: address-space growth (RLIMIT_DATA ≈ memory), open files, processes per
user. What it does not: CPU share, a total memory limit over child processes, filesystem or
process isolation, OOM detection. :func:`lamina.sandbox.backend.create_sandbox` logs that.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from pathlib import Path

from lamina.sandbox.child import Child
from lamina.sandbox.limits import SandboxSpec

_TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")

NOT_ENFORCED = (
    "no CPU quota, no memory limit across child processes (RLIMIT_DATA per process only), "
    "no OOM detection, no private /tmp, no read-only code, no pid/mount namespaces, "
    "runtimes run as the server's user; freezing uses SIGSTOP/SIGCONT"
)


def vm_hwm_bytes(status_text: str) -> int:
    """Peak resident memory from a ``/proc/<pid>/status`` text."""
    for line in status_text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_ticks(stat_text: str) -> int:
    """utime + stime + cutime + cstime from a ``/proc/<pid>/stat`` text."""
    # The command name may contain spaces and parentheses; fields resume after the last ')'.
    fields = stat_text[stat_text.rindex(")") + 2 :].split()
    return sum(int(f) for f in fields[11:15])


class PlainProcess:
    """A runtime started directly, in its own session and process group."""

    def __init__(self, child: Child) -> None:
        self._child = child
        self.pid = child.pid
        self._peak = 0
        self._cpu_ns = 0

    def _proc(self, name: str) -> str | None:
        try:
            return Path(f"/proc/{self.pid}/{name}").read_text()
        except (OSError, ValueError):
            return None

    async def freeze(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGSTOP)

    async def thaw(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGCONT)

    def max_memory_used_mb(self) -> int:
        if not self._child.has_exited() and (status := self._proc("status")) is not None:
            self._peak = max(self._peak, vm_hwm_bytes(status))
        return -(-self._peak // (1024 * 1024))

    def oom_killed(self) -> bool:
        return False  # not observable without a memory cgroup

    def cpu_time_ns(self) -> int:
        if not self._child.has_exited() and (stat := self._proc("stat")) is not None:
            self._cpu_ns = cpu_ticks(stat) * _TICK_NS
        return self._cpu_ns

    def end_init_boost(self, memory_mb: int) -> None:
        """No CPU share is enforced in this tier, so there is nothing to end."""

    def reset_peak_memory(self) -> None:
        self._peak = 0
        # "5" resets the peak RSS (VmHWM) of the process.
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    async def wait(self) -> int:
        return await self._child.wait()

    def terminate(self) -> bool:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
            os.killpg(self.pid, signal.SIGCONT)
        await self._child.wait()


class RlimitSandbox:
    """Runs runtimes directly with rlimits; see :data:`NOT_ENFORCED`."""

    tier = "rlimits"

    def task_root(self, code_dir: Path) -> str:
        return str(code_dir)

    def runtime_root(self, runtime_dir: Path) -> str:
        return str(runtime_dir)

    def opt_root(self, opt_dir: Path) -> str:
        return str(opt_dir)  # no mounts here: layers are seen where they are

    def close(self) -> None:
        """Nothing is held on the host in this tier."""

    async def spawn(
        self, spec: SandboxSpec, stdout_fd: int, *, extensions_fd: int | None = None
    ) -> PlainProcess:
        passed = () if extensions_fd is None else (extensions_fd,)
        child = Child(spec.argv, spec.env, stdout_fd, new_session=True, pass_fds=passed)
        limits = spec.limits
        memory = limits.memory_mb * 1024 * 1024
        # Applied right after the spawn: the runtime has not had time to allocate or fork
        # much, and it avoids a preexec_fn (which forces a slow fork+exec path).
        with contextlib.suppress(ProcessLookupError):
            resource.prlimit(child.pid, resource.RLIMIT_DATA, (memory, memory))
            resource.prlimit(child.pid, resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile))
            resource.prlimit(child.pid, resource.RLIMIT_NPROC, (limits.pids_max, limits.pids_max))
        return PlainProcess(child)
