"""Physical names for resources a template leaves unnamed (their ARNs: :mod:`lamina.arns`).

CloudFormation names an unnamed resource ``<stack>-<LogicalId>-<random>``; Lamina drops the
random part so a second ``lamina up`` finds the same resource, and shortens a name that
would be too long with a stable hash, so names stay unique and valid.
"""

from __future__ import annotations

import hashlib
import re

from lamina.arns import queue_name_from_arn, role_arn

_FN_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_QUEUE_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_BUCKET_CHARS = re.compile(r"[^a-z0-9.-]")
_RULE_CHARS = re.compile(r"[^.\-_A-Za-z0-9]")
_STACK_CHARS = re.compile(r"[^A-Za-z0-9-]")


def _fit(name: str, limit: int) -> str:
    """``name`` itself when short enough, else a prefix plus an 8-hex hash of the whole."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}-{digest}"


def stack_name(raw: str) -> str:
    """A CloudFormation-valid stack name: letters, digits and hyphens, starting with a letter."""
    name = _STACK_CHARS.sub("-", raw).strip("-") or "lamina"
    if not name[0].isalpha():
        name = "stack-" + name
    return _fit(name, 128)


def function_name(stack: str, logical_id: str) -> str:
    return _fit(_FN_CHARS.sub("-", f"{stack}-{logical_id}"), 64)


def queue_name(stack: str, logical_id: str, fifo: bool = False) -> str:
    """80 characters at most, a FIFO queue's ``.fifo`` suffix included."""
    if fifo:
        return _fit(_QUEUE_CHARS.sub("-", f"{stack}-{logical_id}"), 75) + ".fifo"
    return _fit(_QUEUE_CHARS.sub("-", f"{stack}-{logical_id}"), 80)


def bucket_name(stack: str, logical_id: str) -> str:
    name = _BUCKET_CHARS.sub("-", f"{stack}-{logical_id}".lower()).strip(".-")
    name = re.sub(r"-{2,}", "-", name)
    if len(name) < 3:
        name = f"{name}-bucket"
    return _fit(name, 63)


def rule_name(stack: str, function_logical_id: str, event: str) -> str:
    return _fit(_RULE_CHARS.sub("-", f"{stack}-{function_logical_id}-{event}"), 64)


def schedule_name(stack: str, logical_id: str) -> str:
    """An ``AWS::Scheduler::Schedule`` without a Name: ``<stack>-<LogicalId>``."""
    return _fit(_RULE_CHARS.sub("-", f"{stack}-{logical_id}"), 64)


def state_machine_name(stack: str, logical_id: str) -> str:
    """Step Functions allows 1-80 of ``[A-Za-z0-9_-]``."""
    return _fit(_FN_CHARS.sub("-", f"{stack}-{logical_id}"), 80)


def api_id(stack: str, logical_id: str) -> str:
    """A 10-character id, stable for a stack's API, like API Gateway's."""
    return hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:10]


def role_name(stack: str, logical_id: str) -> str:
    """SAM's ``<stack>-<Fn>Role``, kept within IAM's 64 characters (a hash tail when cut)."""
    name = f"{stack}-{logical_id}Role"
    if len(name) <= 64:
        return name
    tail = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:55]}-{tail}"


def queue_name_from(ref: str) -> str | None:
    """The queue name in a queue ARN or URL (templates pass either as an SQS event's Queue)."""
    if ref.startswith("arn:"):
        return queue_name_from_arn(ref)
    if ref.startswith(("http://", "https://")):
        return ref.rstrip("/").rsplit("/", 1)[-1] or None
    return None


def execution_role_arn(account: str, stack: str, function_logical_id: str) -> str:
    """The ARN of the execution role ``lamina up`` makes (``!GetAtt <Fn>Role.Arn``); a
    function with ``RolePath`` has that path in its spec's ``role_arn``."""
    return role_arn(account, role_name(stack, function_logical_id))
