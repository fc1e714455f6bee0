"""What one execution environment is: its limits and how to start it (pure values)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lamina.errors import SandboxError

# Lambda gives one full vCPU at 1,769 MB and scales CPU linearly with memory.
MB_PER_VCPU = 1769
CFS_PERIOD_US = 100_000
# The kernel refuses CFS quotas below 1 ms.
MIN_CFS_QUOTA_US = 1000

_ENV_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of one environment; the CPU share is derived from ``memory_mb``."""

    memory_mb: int
    ephemeral_mb: int = 512
    pids_max: int = 1024
    nofile: int = 1024
    # Run INIT with the host's full CPU, as Lambda does (its INIT phase is not held to the
    # memory-proportional share); :meth:`EnvironmentProcess.end_init_boost` applies the share.
    init_cpu_boost: bool = False

    def __post_init__(self) -> None:
        if self.memory_mb < 1 or self.ephemeral_mb < 1 or self.pids_max < 1 or self.nofile < 1:
            raise SandboxError(f"limits must be positive: {self}")


def cpu_quota_us(memory_mb: int, host_cpus: int, period_us: int = CFS_PERIOD_US) -> int:
    """CFS quota per period: ``memory_mb / 1769`` of a CPU, capped at the host's cores."""
    quota = round(memory_mb * period_us / MB_PER_VCPU)
    return max(MIN_CFS_QUOTA_US, min(quota, max(1, host_cpus) * period_us))


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """Everything needed to start one environment's runtime.

    ``argv[0]`` and every path in ``argv``/``env`` are as seen *inside* the sandbox; use
    :meth:`Sandbox.task_root` and :meth:`Sandbox.runtime_root` to build them.
    """

    env_id: str
    argv: list[str]
    env: dict[str, str]
    code_dir: Path
    runtime_dir: Path | None
    limits: Limits
    # Host paths (interpreter prefixes) that must stay readable at their own path, e.g.
    # /root/.pyenv/versions/3.12.1 when /root is hidden.
    expose: tuple[Path, ...] = field(default=())
    # The function's layers merged in order (lamina.store.optdir), seen read-only at /opt;
    # None: no layers.
    opt_dir: Path | None = None
    # The environment's network namespace (a descriptor the caller keeps open until the
    # process is started), or None for the server's own network.
    netns_fd: int | None = None

    def __post_init__(self) -> None:
        if not _ENV_ID.match(self.env_id):
            raise SandboxError(f"environment id {self.env_id!r} must match {_ENV_ID.pattern}")
        if not self.argv:
            raise SandboxError("a runtime needs a non-empty argv")
