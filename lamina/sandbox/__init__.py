"""Process sandbox: one cgroup and one set of namespaces per execution environment.

See ``docs/sandbox.md``. The scheduler uses :func:`create_sandbox` once at start-up and
:meth:`Sandbox.spawn` per cold start; :func:`zygote_host` tells whether the tier can run
zygotes (Lamina's SnapStart).
"""

from __future__ import annotations

from lamina.sandbox.backend import EnvironmentProcess, Sandbox, create_sandbox, zygote_host
from lamina.sandbox.limits import Limits, SandboxSpec, cpu_quota_us

__all__ = [
    "EnvironmentProcess",
    "Limits",
    "Sandbox",
    "SandboxSpec",
    "cpu_quota_us",
    "create_sandbox",
    "zygote_host",
]
