"""Process sandbox: one cgroup and one set of namespaces per execution environment.

See ``docs/sandbox.md``. The scheduler uses :func:`create_sandbox` once at start-up and
:meth:`Sandbox.spawn` per cold start.
"""

from __future__ import annotations

from lamina.sandbox.backend import EnvironmentProcess, Sandbox, create_sandbox
from lamina.sandbox.limits import Limits, SandboxSpec, cpu_quota_us

__all__ = [
    "EnvironmentProcess",
    "Limits",
    "Sandbox",
    "SandboxSpec",
    "cpu_quota_us",
    "create_sandbox",
]
