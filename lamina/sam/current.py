"""What Lamina has now, as far as a stack is concerned: values read by :mod:`observe`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CurrentFunction:
    name: str
    configuration: dict[str, Any]  # GetFunctionConfiguration's answer
    tags: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    url: dict[str, Any] | None = None  # GetFunctionUrlConfig (of the alias, if any)
    aliases: dict[str, str] = field(default_factory=dict)  # alias → version
    # CodeSha256 and comparable configuration of each alias's version, to publish only when
    # something changed since.
    alias_versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (retries, maximum age, on success, on failure) of the alias's (or $LATEST's) config
    invoke_config: tuple[int | None, int | None, str | None, str | None] | None = None
    # The alias's provisioned concurrency (requested), None: none.
    provisioned: int | None = None
    recursive_loop: str = "Terminate"  # GetFunctionRecursionConfig

    @property
    def code_sha256(self) -> str:
        return str(self.configuration.get("CodeSha256", ""))


@dataclass(frozen=True)
class CurrentMapping:
    uuid: str
    queue_arn: str
    function_arn: str
    batch_size: int
    batching_window_s: int
    enabled: bool
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass(frozen=True)
class CurrentRule:
    name: str
    schedule: str
    enabled: bool
    description: str
    # TargetSpec.compared(): (id, arn, input, input path, retries, max age, message group)
    targets: tuple[tuple[str, str, str | None, str | None, int, int, str | None], ...]
    pattern: str | None = None


@dataclass(frozen=True)
class CurrentSubscription:
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]  # GetSubscriptionAttributes' answer


@dataclass
class Current:
    """Lamina's resources that the desired stack or the stack's state file names."""

    functions: dict[str, CurrentFunction] = field(default_factory=dict)
    queues: dict[str, dict[str, str]] = field(default_factory=dict)  # name → attributes
    # name → GetTopicAttributes' answer, plus "tags": ListTagsForResource's, as JSON text
    topics: dict[str, dict[str, str]] = field(default_factory=dict)
    subscriptions: list[CurrentSubscription] = field(default_factory=list)  # of those topics
    buckets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # name → notifications
    rules: dict[str, CurrentRule] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<group>/<name>" → it
    mappings: list[CurrentMapping] = field(default_factory=list)
    routes: list[dict[str, str]] | None = None  # this stack's entries in the routes file
    # API id → the server's answer for it (GET /lamina/v1/apis/{id}); None: routes file mode
    apis: dict[str, dict[str, Any]] | None = None
    # name → DescribeStateMachine's answer, plus "tags": ListTagsForResource's, as a dict
    state_machines: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # service → why it cannot be used
