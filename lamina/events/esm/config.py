"""An event source mapping as a value, parsed and validated at the edge (pure)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from lamina.arns import mapping_arn, parse_arn
from lamina.errors import InvalidParameterValue
from lamina.events.validation import Violations, object_member

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
DEFAULT_BATCH_SIZE = 10


@dataclass(frozen=True, slots=True)
class Mapping:
    uuid: str
    event_source_arn: str
    function_name: str
    qualifier: str | None
    function_arn: str
    batch_size: int = DEFAULT_BATCH_SIZE
    batching_window_s: int = 0
    maximum_concurrency: int | None = None
    report_batch_item_failures: bool = False
    enabled: bool = True
    state: str = "Creating"
    state_reason: str = "USER_INITIATED"
    last_modified: float = 0.0
    last_result: str = "No records processed"

    @property
    def fifo(self) -> bool:
        """A FIFO queue's mapping: at most 10 records a batch, no batching window, and a
        failed record holds back the rest of its message group."""
        return self.event_source_arn.endswith(".fifo")

    def settings(self) -> tuple[object, ...]:
        """What a running poller depends on (not its state or last result)."""
        return (
            self.event_source_arn,
            self.function_name,
            self.qualifier,
            self.batch_size,
            self.batching_window_s,
            self.maximum_concurrency,
            self.report_batch_item_failures,
            self.enabled,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Mapping:
        return cls(**json.loads(raw))

    def shape(self, region: str, account: str) -> dict[str, Any]:
        """Lambda's ``EventSourceMappingConfiguration``."""
        out: dict[str, Any] = {
            "UUID": self.uuid,
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.batching_window_s,
            "EventSourceArn": self.event_source_arn,
            "FunctionArn": self.function_arn,
            "LastModified": self.last_modified,
            "LastProcessingResult": self.last_result,
            "State": self.state,
            "StateTransitionReason": self.state_reason,
            "FunctionResponseTypes": (
                [REPORT_BATCH_ITEM_FAILURES] if self.report_batch_item_failures else []
            ),
            "EventSourceMappingArn": mapping_arn(region, account, self.uuid),
        }
        if self.maximum_concurrency is not None:
            out["ScalingConfig"] = {"MaximumConcurrency": self.maximum_concurrency}
        return out


def check_sqs_arn(arn: object) -> str:
    if not isinstance(arn, str) or not arn:
        raise InvalidParameterValue("EventSourceArn is required")
    parsed = parse_arn(arn)
    if parsed is None or not parsed.resource or ":" in parsed.resource:
        raise InvalidParameterValue(f"Invalid EventSourceArn: {arn}")
    if parsed.service != "sqs":
        raise InvalidParameterValue(
            f"Unsupported event source type for {arn}: Lamina maps SQS queues "
            "(S3 notifications and schedules have their own configuration)"
        )
    return arn


def apply_settings(base: Mapping, body: dict[str, Any]) -> Mapping:
    """Validate the tunable members of a Create or Update request onto ``base``."""
    v = Violations()
    batch = v.integer(body, "BatchSize", 1, 10_000)
    window = v.integer(body, "MaximumBatchingWindowInSeconds", 0, 300)
    scaling = object_member(body, "ScalingConfig")
    concurrency = v.integer(scaling, "MaximumConcurrency", 2, 1000) if scaling else None
    v.raise_if_any()
    types = body.get("FunctionResponseTypes")
    if types is not None and (
        not isinstance(types, list) or any(t != REPORT_BATCH_ITEM_FAILURES for t in types)
    ):
        raise InvalidParameterValue.constraint(
            "functionResponseTypes",
            "Member must satisfy enum value set: [ReportBatchItemFailures]",
            types,
        )
    enabled = body.get("Enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise InvalidParameterValue("Enabled must be a boolean")
    out = replace(
        base,
        batch_size=batch if batch is not None else base.batch_size,
        batching_window_s=window if window is not None else base.batching_window_s,
        maximum_concurrency=(concurrency if scaling is not None else base.maximum_concurrency),
        report_batch_item_failures=(
            bool(types) if types is not None else base.report_batch_item_failures
        ),
        enabled=enabled if enabled is not None else base.enabled,
    )
    # Lambda's words (a FIFO queue's batches therefore hold at most 10: no window).
    if out.fifo and out.batching_window_s > 0:
        raise InvalidParameterValue("Batching window is not supported for FIFO queues")
    if out.batch_size > 10 and out.batching_window_s < 1:
        raise InvalidParameterValue(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size "
            "is greater than 10"
        )
    return out
