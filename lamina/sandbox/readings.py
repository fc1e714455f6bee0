"""What an environment in its own cgroup reports: memory, OOM kills, CPU time.

Shared by jailed and forked environments. The readings are kept at kill time, because
the caller reports them (REPORT line, ledger) after the cgroup is gone.
"""

from __future__ import annotations

import logging
import time

from lamina.sandbox.cgroup_driver import CgroupHandle
from lamina.sandbox.resident import (
    SAMPLING,
    ResidentSampler,
    SamplingAllowance,
    reading_bytes,
    resample_due,
)

_MB = 1024 * 1024

log = logging.getLogger("lamina.sandbox")


class CgroupReadings:
    """The :class:`EnvironmentProcess` methods that read or steer the cgroup."""

    # Memory charged elsewhere that the environment uses all the same (a zygote's snapshot),
    # counted only when no resident reading is available.
    _base_memory_bytes = 0
    # The server's bound on the loop time all environments' samples take (tests swap it).
    _allowance: SamplingAllowance = SAMPLING

    def __init__(self, cgroup: CgroupHandle) -> None:
        self._cgroup = cgroup
        self._final: tuple[int, bool, int] | None = None
        self._resident: ResidentSampler | None = None  # opened at the first reading
        self._samples = 0  # resident samples taken, and the charged peak and time of the last
        self._sampled_charged = 0
        self._sampled_at = 0.0

    async def thaw(self) -> None:
        await self._cgroup.set_frozen(False)

    def max_memory_used_mb(self) -> int:
        """Lambda's Max Memory Used: the larger of the resident and the charged peak.

        The resident reading, sampled here (at the end of an invoke, when
        :func:`~lamina.sandbox.resident.resample_due` says so, and at the end of its life),
        is the processes' anonymous memory plus the file pages they map (interpreter,
        libraries, code) counted as the environment's own page cache would hold them,
        though the host's cache holds, and another cgroup was charged for, them; the
        cgroup's peak counts what was allocated and freed between two samples; never
        above the memory size. See :mod:`lamina.sandbox.resident`.
        """
        if self._final is not None:
            return self._final[0]
        return self._memory_mb(force=False)

    def _memory_mb(self, *, force: bool) -> int:
        if self._resident is None:
            self._resident = ResidentSampler(self._cgroup.group.dir("memory") / "cgroup.procs")
        charged = self._cgroup.max_memory_bytes()
        now = time.monotonic()
        allowance = self._allowance
        due = force or resample_due(
            self._samples, charged, self._sampled_charged, now - self._sampled_at
        )
        if due and allowance.allows(now):
            resident = self._resident.sample()
            self._samples += 1
            self._sampled_charged, self._sampled_at = charged, now
            done = time.monotonic()
            allowance.spend(done - now, done)
        else:  # not due, or the server's sampling time is spent: the last peak stands
            resident = self._resident.peak_bytes
            if due and allowance.refused == 1:  # the server's first refusal
                log.info(
                    "Max Memory Used: resident samples took their share of the server's loop "
                    "(%.0f%%); readings wait for it (file pages lag, allocations do not)",
                    allowance.rate * 100,
                )
        if resident == 0:
            # No process readable: the charged peak, plus a zygote's snapshot (a forked
            # child's resident set already holds the snapshot pages it shares).
            charged += self._base_memory_bytes
        peak = reading_bytes(resident, charged, self._cgroup.memory_limit_bytes)
        return -(-peak // _MB)

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
            memory = self._memory_mb(force=True)
            self._final = (memory, self.oom_killed(), self.cpu_time_ns())
        if self._resident is not None:
            self._resident.close()
