"""Provisioned concurrency configurations: what is stored, what the API answers, and the
rules a request must meet (pure; Lambda's words).

A configuration belongs to one published version or one alias of a function (never
``$LATEST``). What is *requested* is stored; what is *allocated* and *available* (the
environments initialised and serving) and the status come from the scheduler, which
starts them (:mod:`lamina.scheduler.provisioned`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from lamina.errors import (
    InvalidParameterValue,
    ProvisionedConcurrencyConfigNotFound,
    ResourceConflict,
)
from lamina.models.function import LATEST, FunctionConfig

IN_PROGRESS = "IN_PROGRESS"
READY = "READY"
FAILED = "FAILED"
# Lambda's StatusReason for an allocation whose INIT failed.
INIT_FAILURE = "FUNCTION_ERROR_INIT_FAILURE"
# ListProvisionedConcurrencyConfigs' MaxItems: 1 to 50.
MAX_LIST_ITEMS = 50


@dataclass(frozen=True, slots=True)
class ProvisionedConfig:
    """One stored configuration: ``requested`` environments for ``function:qualifier``."""

    function: str
    qualifier: str  # a version number or an alias name
    requested: int
    last_modified: str  # Lambda's timestamp (lamina.store.stamps)


@dataclass(frozen=True, slots=True)
class Allocation:
    """The scheduler's side of a configuration: how many environments are up, and how
    the allocation went."""

    allocated: int = 0  # environments initialised (busy or idle)
    available: int = 0  # ... of them, idle and ready for an invoke
    status: str = IN_PROGRESS
    reason: str = ""


def unpublished() -> InvalidParameterValue:
    return InvalidParameterValue(
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
    )


def not_provisioned_here() -> InvalidParameterValue:
    """Lamina's refusal where no environments would start (the control plane of a cluster,
    whose invokes run on the nodes): better than a configuration IN_PROGRESS for ever."""
    return InvalidParameterValue(
        "Provisioned concurrency is not available on a Lamina cluster yet: its environments "
        "run on the nodes, which do not provision them. Use SnapStart for fast starts."
    )


def not_found() -> ProvisionedConcurrencyConfigNotFound:
    return ProvisionedConcurrencyConfigNotFound(
        "No Provisioned Concurrency Config found for this function"
    )


def check_requested(value: object) -> int:
    """``ProvisionedConcurrentExecutions``: an integer of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterValue.constraint(
            "provisionedConcurrentExecutions",
            "Member must have value greater than or equal to 1",
            value,
        )
    return value


def check_qualifier(qualifier: str | None) -> str:
    """A version number or alias name; never absent, never ``$LATEST``."""
    if qualifier is None or qualifier in ("", LATEST):
        raise unpublished()
    return qualifier


def check_room(
    requested: int,
    others: int,
    *,
    reserved: int | None,
    unreserved: int,
    unreserved_minimum: int,
) -> None:
    """Whether ``requested`` fits next to the function's ``others`` (its other qualifiers'
    requests): within its reserved concurrency if it has one, else within the account's
    unreserved pool less the minimum kept for functions without a reservation.

    ``unreserved`` is the account's pool less every reservation and less the provisioned
    concurrency other functions without a reservation have taken."""
    total = requested + others
    if reserved is not None:
        if total > reserved:
            raise InvalidParameterValue(
                "Requested Provisioned Concurrency should not be greater than the "
                "reservedConcurrentExecution for function"
            )
        return
    if total > unreserved - unreserved_minimum:
        raise InvalidParameterValue(
            "Requested Provisioned Concurrency exceeds the account's "
            f"UnreservedConcurrentExecution minimum value of [{unreserved_minimum}]."
        )


def check_reserved_covers(reserved: int, provisioned_total: int) -> None:
    """A function's reserved concurrency may not go below the provisioned concurrency its
    versions and aliases hold: Lambda refuses the PutFunctionConcurrency (its wording
    from memory: no stored AWS source quotes it)."""
    if reserved < provisioned_total:
        raise InvalidParameterValue(
            f"ReservedConcurrentExecutions {reserved} should not be lower than function's "
            f"total provisioned concurrency [{provisioned_total}]."
        )


def check_no_snap_start(snap_start: bool) -> None:
    """Lambda's guide: "SnapStart does not support provisioned concurrency" — a version
    published with SnapStart on (or an alias serving one) takes no configuration. The
    wording is Lamina's: no stored AWS source quotes the API's."""
    if snap_start:
        raise InvalidParameterValue(
            "Provisioned Concurrency is not supported for function versions with SnapStart enabled."
        )


def check_not_both(
    function: str,
    qualifier: str,
    version: str,
    configured: Mapping[str, str],
) -> None:
    """An alias and the version it points to cannot both carry a configuration.

    ``configured``: the function's other configured qualifiers → the version each serves."""
    for other, other_version in configured.items():
        if other != qualifier and other_version == version:
            raise ResourceConflict(
                f"Alias or version {other} of function {function} already has provisioned "
                f"concurrency on version {version}"
            )


def response(cfg: ProvisionedConfig, alloc: Allocation) -> dict[str, object]:
    """Put/Get's answer (and a List item, with its FunctionArn added)."""
    body: dict[str, object] = {
        "RequestedProvisionedConcurrentExecutions": cfg.requested,
        "AvailableProvisionedConcurrentExecutions": alloc.available,
        "AllocatedProvisionedConcurrentExecutions": alloc.allocated,
        "Status": alloc.status,
        "LastModified": cfg.last_modified,
    }
    if alloc.reason:
        body["StatusReason"] = alloc.reason
    return body


class Provisioning(Protocol):
    """What carries configurations out (the scheduler's
    :class:`~lamina.scheduler.provisioned.Provisioner`)."""

    def apply(self, function: str, qualifier: str, cfg: FunctionConfig | None, n: int) -> None:
        """Keep ``n`` environments of ``cfg`` for ``function:qualifier`` (None: none)."""

    def allocation(self, function: str, qualifier: str) -> Allocation:
        """How the configuration's environments stand now."""
