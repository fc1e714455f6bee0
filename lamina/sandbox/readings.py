"""What an environment in its own cgroup reports: memory, OOM kills, CPU time.

Shared by jailed and forked environments. The readings are kept at kill time, because
the caller reports them (REPORT line, ledger) after the cgroup is gone.
"""

from __future__ import annotations

from lamina.sandbox.cgroup_driver import CgroupHandle


class CgroupReadings:
    """The :class:`EnvironmentProcess` methods that read or steer the cgroup."""

    # Memory charged elsewhere that the environment uses all the same (a zygote's snapshot).
    _base_memory_bytes = 0

    def __init__(self, cgroup: CgroupHandle) -> None:
        self._cgroup = cgroup
        self._final: tuple[int, bool, int] | None = None

    async def thaw(self) -> None:
        await self._cgroup.set_frozen(False)

    def max_memory_used_mb(self) -> int:
        if self._final is not None:
            return self._final[0]
        peak = self._cgroup.max_memory_bytes() + self._base_memory_bytes
        return -(-peak // (1024 * 1024))

    def oom_killed(self) -> bool:
        if self._final is not None:
            return self._final[1]
        return self._cgroup.oom_kills() > 0

    def cpu_time_ns(self) -> int:
        if self._final is not None:
            return self._final[2]
        return self._cgroup.cpu_time_ns()

    def end_init_boost(self, memory_mb: int) -> None:
        if self._final is None:
            self._cgroup.set_cpu_share(memory_mb)

    def reset_peak_memory(self) -> None:
        if self._final is None:
            self._cgroup.reset_peak_memory()

    def _keep_readings(self) -> None:
        """Take the last readings before the group is destroyed."""
        if self._final is None:
            self._final = (self.max_memory_used_mb(), self.oom_killed(), self.cpu_time_ns())
