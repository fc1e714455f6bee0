"""What ``lamina up`` made for a stack, so what the template no longer has is removed next time.

Kept in the project, next to the template: ``.lamina/stacks/<stack>@<host>_<port>.json``
(one file per stack and Lamina endpoint, since two servers hold different resources).
Functions also carry ``lamina:stack`` / ``lamina:logical-id`` tags, so a lost state file
still finds the stack's functions.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class StackState:
    stack: str
    endpoint: str
    functions: dict[str, str] = field(default_factory=dict)  # logical id → name
    aliases: dict[str, str] = field(default_factory=dict)  # function name → alias made
    urls: dict[str, str] = field(default_factory=dict)  # function name → URL made
    queues: dict[str, str] = field(default_factory=dict)  # logical id → name
    topics: dict[str, str] = field(default_factory=dict)  # logical id → name
    subscriptions: dict[str, str] = field(default_factory=dict)  # key → subscription ARN
    buckets: dict[str, str] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)  # key → rule name
    schedules: dict[str, str] = field(default_factory=dict)  # key → "<group>/<name>"
    mappings: dict[str, str] = field(default_factory=dict)  # key → UUID
    notifications: list[str] = field(default_factory=list)  # buckets whose config we set
    routes: bool = False  # whether this stack has entries in the routes file
    apis: dict[str, str] = field(default_factory=dict)  # API logical id → API id on Lamina
    roles: dict[str, str] = field(default_factory=dict)  # execution role made → its path
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id → name


def state_path(project: Path, stack: str, endpoint: str) -> Path:
    parts = urlsplit(endpoint)
    where = _UNSAFE.sub("_", f"{parts.hostname or 'lamina'}_{parts.port or 80}")
    return project / ".lamina" / "stacks" / f"{_UNSAFE.sub('_', stack)}@{where}.json"


def load_state(path: Path, stack: str, endpoint: str) -> StackState:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return StackState(stack, endpoint)
    except (OSError, ValueError):
        return StackState(stack, endpoint)  # unreadable: tags still find the functions
    known = {k: v for k, v in doc.items() if k in StackState.__dataclass_fields__}
    known.update(stack=stack, endpoint=endpoint)
    return StackState(**known)


def save_state(path: Path, state: StackState) -> None:
    """Write atomically (a crash mid-write leaves the previous state)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(asdict(state), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
