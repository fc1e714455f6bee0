"""ARNs and function references, built and parsed in one place (pure).

Every ARN Lamina writes or reads — functions, queues, buckets, rules, roles, state machines —
is built and parsed here, so the format lives in one module.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from lamina.errors import InvalidParameterValue

_FULL = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?$"
)
_PARTIAL = re.compile(
    r"^(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9-_]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?$"
)
_NAME = re.compile(
    r"^(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?$"
)


@dataclass(frozen=True, slots=True)
class FunctionRef:
    name: str
    qualifier: str | None


def parse_function_ref(raw: str, qualifier: str | None = None) -> FunctionRef:
    """Accept ``name``, ``name:qual``, ``account:function:name`` or a full ARN."""
    for pattern in (_NAME, _PARTIAL, _FULL):
        m = pattern.match(raw)
        if m:
            inline = m.group("qualifier")
            if inline and qualifier and inline != qualifier:
                raise InvalidParameterValue(
                    "The derived qualifier from the function name does not match the "
                    "specified qualifier."
                )
            return FunctionRef(m.group("name"), qualifier or inline)
    raise InvalidParameterValue.constraint(
        "functionName",
        "Member must satisfy regular expression pattern: "
        "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
        "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
        raw,
    )


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


# -- layers -------------------------------------------------------------------------------
_LAYER_NAME = re.compile(r"^[a-zA-Z0-9-_]{1,140}$")
_LAYER_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<name>[a-zA-Z0-9-_]{1,140})(?::(?P<version>[0-9]{1,10}))?$"
)


@dataclass(frozen=True, slots=True)
class LayerRef:
    """A layer named by name or ARN; ``version`` only when a version ARN named it."""

    name: str
    version: int | None
    region: str | None = None
    account: str | None = None


def layer_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:layer:{name}"


def layer_version_arn(region: str, account: str, name: str, version: int) -> str:
    return f"{layer_arn(region, account, name)}:{version}"


def parse_layer_name(raw: str) -> LayerRef:
    """A ``LayerName`` path parameter: a plain name or a layer ARN (no version)."""
    if _LAYER_NAME.match(raw):
        return LayerRef(raw, None)
    m = _LAYER_ARN.match(raw)
    if m and m.group("version") is None:
        return LayerRef(m.group("name"), None, m.group("region"), m.group("account"))
    raise InvalidParameterValue.constraint(
        "layerName",
        "Member must satisfy regular expression pattern: "
        "(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+",
        raw,
    )


def is_layer_version_arn(raw: str) -> bool:
    m = _LAYER_ARN.match(raw)
    return m is not None and m.group("version") is not None


def parse_layer_version_arn(raw: str, where: str = "arn") -> LayerRef:
    """A layer version ARN (``...:layer:<name>:<version>``), as ``Layers`` entries are."""
    m = _LAYER_ARN.match(raw) if isinstance(raw, str) else None
    if m is None or m.group("version") is None:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{raw}' at '{where}' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)"
        )
    return LayerRef(m.group("name"), int(m.group("version")), m.group("region"), m.group("account"))


# -- CloudWatch Logs --------------------------------------------------------------------------
def log_group_arn(region: str, account: str, group: str, *, star: bool = False) -> str:
    """``arn:aws:logs:<region>:<account>:log-group:<group>`` (``:*`` as DescribeLogGroups'
    ``arn`` field has it)."""
    base = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    return f"{base}:*" if star else base


def log_stream_arn(region: str, account: str, group: str, stream: str) -> str:
    return f"{log_group_arn(region, account, group)}:log-stream:{stream}"


def parse_log_group_identifier(raw: str) -> str:
    """A ``logGroupIdentifier``: a group name or its ARN → the name."""
    if raw.startswith("arn:"):
        parts = raw.split(":")
        if len(parts) >= 7 and parts[2] == "logs" and parts[5] == "log-group":
            return parts[6]
        raise InvalidParameterValue(f"Invalid log group identifier: {raw}")
    return raw


def split_function_arn(arn_or_name: str) -> tuple[str, str | None]:
    """``name``, ``name:qual``, ``arn:aws:lambda:r:a:function:name[:qual]`` → (name, qualifier).

    Lenient, unlike :func:`parse_function_ref`: for ARNs Lamina validated when they were
    configured (targets, destinations, notification routes).
    """
    rest = arn_or_name
    if rest.startswith("arn:"):
        parts = rest.split(":")
        # arn:aws:lambda:region:account:function:name[:qualifier]
        name = parts[6] if len(parts) > 6 else ""
        qualifier = parts[7] if len(parts) > 7 else None
        return name, qualifier
    name, _, qualifier = rest.partition(":")
    return name, qualifier or None


def qualify(arn: str, qualifier: str | None) -> str:
    """A function ARN with ``:qualifier`` appended, when there is one."""
    return f"{arn}:{qualifier}" if qualifier else arn


# -- every other service's ARNs ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Arn:
    """``arn:<partition>:<service>:<region>:<account>:<resource>``, split (pure)."""

    partition: str
    service: str
    region: str
    account: str
    resource: str  # the rest, colons included: "function:name:qualifier", "queue-name"

    def is_function(self) -> bool:
        """A Lambda function's ARN (``function:<name>[:<qualifier>]``)."""
        return self.service == "lambda" and self.resource.startswith("function:")

    def is_queue(self) -> bool:
        """An SQS queue's ARN: one non-empty resource part."""
        return self.service == "sqs" and bool(self.resource) and ":" not in self.resource


def parse_arn(raw: str) -> Arn | None:
    """The parts of ``raw``, or None when it is not ``arn:`` and six parts."""
    parts = raw.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def queue_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def topic_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sns:{region}:{account}:{name}"


def rule_arn(region: str, account: str, name: str, bus: str = "default") -> str:
    """An EventBridge rule (``rule/<bus>/<name>`` on a custom event bus)."""
    where = name if bus == "default" else f"{bus}/{name}"
    return f"arn:aws:events:{region}:{account}:rule/{where}"


def event_bus_arn(region: str, account: str, name: str) -> str:
    """An EventBridge event bus."""
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def schedule_arn(region: str, account: str, key: str) -> str:
    """An EventBridge Scheduler schedule; ``key`` is ``<group>/<name>``."""
    return f"arn:aws:scheduler:{region}:{account}:schedule/{key}"


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def mapping_arn(region: str, account: str, uuid: str) -> str:
    """An event source mapping's ARN."""
    return f"arn:aws:lambda:{region}:{account}:event-source-mapping:{uuid}"


def iam_user_arn(account: str, user: str) -> str:
    return f"arn:aws:iam::{account}:user/{user}"


# -- functions, by ARN (tags) ----------------------------------------------------------------
# A tag resource names a function ARN; any qualifier is matched, so that naming a version
# or an alias gets Lambda's "not supported" answer rather than a pattern error.
_TAGGABLE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>[^:]+))?$"
)


@dataclass(frozen=True, slots=True)
class FunctionArn:
    region: str
    account: str
    name: str
    qualifier: str | None


def parse_function_arn(raw: str) -> FunctionArn | None:
    """The parts of a full function ARN (any qualifier), or None if ``raw`` is not one."""
    m = _TAGGABLE.match(raw)
    if m is None:
        return None
    return FunctionArn(m["region"], m["account"], m["name"], m["qualifier"] or None)


# -- roles, queues by ARN, stacks ------------------------------------------------------------
def role_arn(account: str, name: str, path: str = "/") -> str:
    """An IAM role's ARN; ``path`` is the role's path (``/`` or ``/a/b/``)."""
    return f"arn:aws:iam::{account}:role{path}{name}"


def aws_managed_policy_arn(name: str, path: str = "/") -> str:
    """An AWS managed policy's ARN (account ``aws``); ``path`` as IAM keeps it (``/service-role/``)."""
    return f"arn:aws:iam::aws:policy{path}{name}"


def queue_name_from_arn(arn: str) -> str | None:
    """The queue name of an SQS queue ARN, or None if ``arn`` is not one."""
    parts = parse_arn(arn)
    return parts.resource if parts is not None and parts.is_queue() else None


def stack_arn(region: str, account: str, stack: str, stack_id: str) -> str:
    return f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/{stack_id}"


def lamina_stack_arn(region: str, account: str, stack: str) -> str:
    """The StackId Lamina gives ``stack``: its uuid derived from account, region and name, so
    it is stable across deployments and what ``AWS::StackId`` resolves to."""
    h = hashlib.sha256(f"{account}/{region}/{stack}".encode()).hexdigest()
    return stack_arn(region, account, stack, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}")


# -- resources Lamina does not create -----------------------------------------------------
# ARN shapes of resources Lamina does not create, so a template's Outputs and variables
# read as they would on AWS (not as a made-up "stand-in" service).
_ARN_SHAPES = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{r}:{a}:table/{n}",
    "AWS::Serverless::SimpleTable": "arn:aws:dynamodb:{r}:{a}:table/{n}",
    "AWS::SNS::Topic": "arn:aws:sns:{r}:{a}:{n}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
    "AWS::Serverless::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
    "AWS::Kinesis::Stream": "arn:aws:kinesis:{r}:{a}:stream/{n}",
    "AWS::IAM::Role": "arn:aws:iam::{a}:role/{n}",
    "AWS::IAM::Policy": "arn:aws:iam::{a}:policy/{n}",
    "AWS::IAM::ManagedPolicy": "arn:aws:iam::{a}:policy/{n}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{r}:{a}:log-group:{n}:*",
    "AWS::KMS::Key": "arn:aws:kms:{r}:{a}:key/{n}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{r}:{a}:secret:{n}",
    "AWS::SSM::Parameter": "arn:aws:ssm:{r}:{a}:parameter/{n}",
    "AWS::Events::EventBus": "arn:aws:events:{r}:{a}:event-bus/{n}",
    "AWS::Cognito::UserPool": "arn:aws:cognito-idp:{r}:{a}:userpool/{n}",
}


def resource_arn(kind: str, region: str, account: str, name: str) -> str:
    """The ARN a resource of CloudFormation type ``kind`` named ``name`` would have."""
    shape = _ARN_SHAPES.get(kind)
    if shape is None:
        # AWS::Service::Thing -> arn:aws:service:<region>:<account>:thing/<name>
        parts = kind.split("::")
        service = parts[1].lower() if len(parts) == 3 else "cloudformation"
        thing = parts[2].lower() if len(parts) == 3 else "resource"
        shape = f"arn:aws:{service}:{{r}}:{{a}}:{thing}/{{n}}"
    return shape.format(r=region, a=account, n=name)


# A dead-letter target: an SQS queue or an SNS topic of any partition, region and account.
_DEAD_LETTER = re.compile(
    r"^arn:aws[a-zA-Z-]*:(?P<service>sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$"
)


def dead_letter_service(arn: str) -> str | None:
    """``"sqs"`` or ``"sns"`` for a queue or topic ARN, None for anything else."""
    m = _DEAD_LETTER.match(arn)
    return m["service"] if m else None


# -- Step Functions -------------------------------------------------------------------------

_STATES_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>stateMachine|execution|express|activity):(?P<rest>.+)$"
)
STATES_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,80}$")


@dataclass(frozen=True, slots=True)
class StatesArn:
    """A parsed Step Functions ARN: ``kind`` is ``stateMachine``, ``execution``,
    ``express`` or ``activity``; ``names`` its colon-separated parts after the kind."""

    region: str
    account: str
    kind: str
    names: tuple[str, ...]


def parse_states_arn(arn: str) -> StatesArn | None:
    m = _STATES_ARN.match(arn)
    if not m:
        return None
    names = tuple(m.group("rest").split(":"))
    return StatesArn(m.group("region"), m.group("account"), m.group("kind"), names)


def state_machine_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:states:{region}:{account}:stateMachine:{name}"


def execution_arn(region: str, account: str, machine: str, name: str, express: bool = False) -> str:
    kind = "express" if express else "execution"
    return f"arn:aws:states:{region}:{account}:{kind}:{machine}:{name}"


def activity_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:states:{region}:{account}:activity:{name}"
