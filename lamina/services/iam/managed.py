"""AWS managed policies as data (``managed.json``): the ones Lambda functions commonly attach.

Their ARNs are ``arn:aws:iam::aws:policy<path><name>``; attaching one by ARN or listing it
works like any customer policy, but they cannot be changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lamina.arns import aws_managed_policy_arn
from lamina.services.iam.policy import Policy, parse_policy

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy"


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    name: str
    path: str
    policy: Policy

    @property
    def arn(self) -> str:
        return aws_managed_policy_arn(self.name, self.path)


@cache
def managed_policies() -> dict[str, ManagedPolicy]:
    """Managed policies by ARN."""
    raw = json.loads(resources.files("lamina.services.iam").joinpath("managed.json").read_text())
    out: dict[str, ManagedPolicy] = {}
    for name, entry in raw.items():
        if name.startswith("_"):
            continue
        document = {"Version": "2012-10-17", "Statement": entry["statements"]}
        managed = ManagedPolicy(name=name, path=entry["path"], policy=parse_policy(document))
        out[managed.arn] = managed
    return out


def managed_policy(arn: str) -> ManagedPolicy | None:
    return managed_policies().get(arn)


def managed_by_name(name: str) -> ManagedPolicy | None:
    """SAM's ``Policies: [AWSLambdaBasicExecutionRole]`` names a managed policy without its ARN."""
    return next((m for m in managed_policies().values() if m.name == name), None)
