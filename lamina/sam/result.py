"""What one ``lamina up`` did: the spec, its translation, builds, plan and outcomes (a value
read by the report, the stack record and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lamina.sam.apply import Applied
from lamina.sam.builds.package import Package
from lamina.sam.model import StackSpec
from lamina.sam.plan import StackPlan
from lamina.sam.translate import Translation


@dataclass
class UpResult:
    spec: StackSpec
    translation: Translation
    packages: dict[str, Package]
    build_errors: dict[str, str]
    plan: StackPlan
    applied: Applied
    outputs: dict[str, str]
    urls: dict[str, str]  # function name → URL
    apis: dict[str, dict[str, Any]] = field(default_factory=dict)  # API id → server's answer

    @property
    def ok(self) -> bool:
        return not self.build_errors and not self.applied.failed
