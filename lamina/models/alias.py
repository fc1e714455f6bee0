"""Aliases: a name for a function version, optionally sending a share of traffic to a second.

Pure values and validation with Lambda's messages. Routing is a function of a random draw
so it is tested without randomness: :meth:`Alias.pick` maps a draw in [0, 1) to a version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lamina.errors import InvalidParameterValue
from lamina.models.function import DESCRIPTION_MAX, LATEST, validate_description

_ALIAS = re.compile(r"^(?!\d+$)[a-zA-Z0-9-_]{1,128}$")
_VERSION = re.compile(r"^(\$LATEST|\d+)$")
_NUMBER = re.compile(r"^\d+$")
# Lambda routes an alias to at most two versions: the primary and one more.
MAX_ADDITIONAL_VERSIONS = 1


@dataclass(frozen=True, slots=True)
class Alias:
    """One alias of one function."""

    function: str
    name: str
    version: str  # the primary version: "$LATEST" or a published number
    description: str = ""
    # Additional version → the share of invokes it gets (0.0 to 1.0); the rest go to ``version``.
    weights: dict[str, float] = field(default_factory=dict)
    revision_id: str = ""

    def pick(self, draw: float) -> str:
        """The version an invoke runs, for a uniform ``draw`` in [0, 1)."""
        for version, weight in self.weights.items():
            if draw < weight:
                return version
            draw -= weight
        return self.version

    def versions(self) -> set[str]:
        """Every version this alias can send an invoke to."""
        return {self.version, *self.weights}

    def to_json(self) -> str:
        return json.dumps(
            {
                "function": self.function,
                "name": self.name,
                "version": self.version,
                "description": self.description,
                "weights": self.weights,
                "revision_id": self.revision_id,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @staticmethod
    def from_json(text: str) -> Alias:
        data = json.loads(text)
        return Alias(
            function=str(data["function"]),
            name=str(data["name"]),
            version=str(data["version"]),
            description=str(data.get("description", "")),
            weights={str(k): float(v) for k, v in dict(data.get("weights", {})).items()},
            revision_id=str(data.get("revision_id", "")),
        )


def validate_alias_name(name: object) -> str:
    if not isinstance(name, str) or not _ALIAS.match(name):
        raise InvalidParameterValue.constraint(
            "name",
            "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
            name,
        )
    return name


def validate_alias_version(version: object) -> str:
    if not isinstance(version, str) or not _VERSION.match(version):
        raise InvalidParameterValue.constraint(
            "functionVersion",
            "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)",
            version,
        )
    return version


def validate_alias_description(description: object) -> str:
    if not isinstance(description, str):
        raise InvalidParameterValue(
            f"Description must be a string of at most {DESCRIPTION_MAX} characters"
        )
    return validate_description(description)


def parse_routing(routing: object) -> dict[str, float]:
    """``RoutingConfig`` → {version: weight}; shape and ranges only (see check_routing)."""
    if routing is None:
        return {}
    if not isinstance(routing, Mapping):
        raise InvalidParameterValue("RoutingConfig must be an object with AdditionalVersionWeights")
    weights = routing.get("AdditionalVersionWeights") or {}
    if not isinstance(weights, Mapping):
        raise InvalidParameterValue("AdditionalVersionWeights must map versions to weights")
    out: dict[str, float] = {}
    for version, weight in weights.items():
        if not isinstance(version, str) or not _NUMBER.match(version):
            raise InvalidParameterValue.constraint(
                "routingConfig.additionalVersionWeights",
                "Map keys must satisfy constraint: [Member must have length less than or equal "
                "to 1024, Member must have length greater than or equal to 1, Member must "
                "satisfy regular expression pattern: [0-9]+]",
                dict(weights),
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
            raise InvalidParameterValue.constraint(
                "routingConfig.additionalVersionWeights",
                "Map value must satisfy constraint: [Member must have value less than or equal "
                "to 1.0, Member must have value greater than or equal to 0.0, Member must not "
                "be null]",
                dict(weights),
            )
        out[version] = float(weight)
    if len(out) > MAX_ADDITIONAL_VERSIONS:
        raise InvalidParameterValue(
            f"Number of items in AdditionalVersionWeights cannot be greater than "
            f"{MAX_ADDITIONAL_VERSIONS}: an alias points to at most two versions"
        )
    return out


def check_routing(primary: str, weights: Mapping[str, float]) -> None:
    """The rules that tie the weights to the primary version."""
    if not weights:
        return
    if primary == LATEST:
        raise InvalidParameterValue(
            "$LATEST is not supported for an alias pointing to more than 1 version"
        )
    if primary in weights:
        raise InvalidParameterValue(
            f"Invalid function version {primary}. Function version {primary} is already "
            "included in routing configuration."
        )
