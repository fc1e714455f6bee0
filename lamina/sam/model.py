"""The desired state a template describes, as typed values (what ``lamina up`` will make true).

Translation (:mod:`lamina.sam.translate`) turns a resolved template into a :class:`StackSpec`;
the build step turns each :class:`CodeSource` into a package; the plan compares these
values with what Lamina has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lamina import arns

# "requirements": a Python layer made of packages only (``inline`` holds requirements.txt).
CodeKind = Literal["dir", "zip", "inline", "requirements"]
STACK_TAG = "lamina:stack"
LOGICAL_ID_TAG = "lamina:logical-id"


@dataclass(frozen=True, slots=True)
class CodeSource:
    """Where a function's (or layer's) code comes from."""

    kind: CodeKind
    path: Path | None = None  # a directory or a .zip (kind dir / zip)
    inline: str | None = None  # InlineCode / Code.ZipFile (kind inline)
    build_method: str | None = None  # Metadata.BuildMethod (e.g. rust-cargolambda, makefile)
    binary: str | None = None  # Metadata.BuildProperties.Binary (Rust: which [[bin]])

    def watched(self) -> Path | None:
        """The path whose changes mean the function must be rebuilt."""
        return self.path


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """A layer version the template publishes (its ContentUri built, then published)."""

    logical_id: str
    name: str
    # The layer version ARN: Ref's value; before publishing, the stand-in ``...:1``, then
    # the published version's (:func:`lamina.sam.layers.publish_layers` swaps it in).
    arn: str
    code: CodeSource
    compatible_runtimes: tuple[str, ...] = ()
    description: str = ""
    license_info: str = ""
    compatible_architectures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LogGroupSpec:
    """An ``AWS::Logs::LogGroup``: made on Lamina's CloudWatch Logs, with its retention."""

    logical_id: str
    name: str
    retention_days: int | None = None


@dataclass(frozen=True, slots=True)
class UrlSpec:
    auth_type: str = "NONE"
    invoke_mode: str = "BUFFERED"
    cors: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class InvokeConfigSpec:
    """EventInvokeConfig: retries, maximum age and destinations of asynchronous invokes."""

    maximum_retry_attempts: int | None = None
    maximum_event_age_s: int | None = None
    on_success: str | None = None  # destination ARN (a queue or a function)
    on_failure: str | None = None


@dataclass(frozen=True, slots=True)
class OwnRole:
    """The execution role ``lamina up`` makes for a function (SAM's ``<Fn>Role``)."""

    name: str
    path: str
    managed: tuple[str, ...]
    inline: dict[str, Any]  # policy name -> document


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    name: str
    runtime: str
    handler: str
    code: CodeSource
    memory_mb: int = 128
    timeout_s: int = 3
    environment: dict[str, str] = field(default_factory=dict)
    architecture: str = "x86_64"
    ephemeral_mb: int = 512
    description: str = ""
    reserved_concurrency: int | None = None
    alias: str | None = None  # AutoPublishAlias
    # ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions, on the alias.
    provisioned: int | None = None
    layers: tuple[LayerSpec, ...] = ()
    url: UrlSpec | None = None
    tags: dict[str, str] = field(default_factory=dict)
    snap_start: bool = False
    log_format: str | None = None
    log_group: str | None = None  # LoggingConfig.LogGroup
    # LoggingConfig.ApplicationLogLevel / SystemLogLevel, passed through as written (the
    # API refuses them with the Text format, as CloudFormation's Lambda does).
    application_log_level: str | None = None
    system_log_level: str | None = None
    invoke_config: InvokeConfigSpec | None = None
    # DeadLetterQueue (SAM) / DeadLetterConfig: the SQS queue for spent async events.
    dead_letter_arn: str = ""
    # Tracing: Active (SAM) / TracingConfig.Mode: X-Ray segments (lamina.xray).
    tracing_active: bool = False
    # RecursiveLoop: Allow lets recursive loop detection leave the function's loops run.
    recursive_loop: str = "Terminate"
    # The execution role: the template's Role, or the one lamina up makes (own_role).
    role_arn: str = ""
    own_role: OwnRole | None = None

    @property
    def qualifier(self) -> str | None:
        """What events and URLs target: the alias when AutoPublishAlias is set."""
        return self.alias

    def configuration(self) -> dict[str, Any]:
        """The fields UpdateFunctionConfiguration sets, in the API's shape."""
        out: dict[str, Any] = {
            "Runtime": self.runtime,
            "Handler": self.handler,
            "MemorySize": self.memory_mb,
            "Timeout": self.timeout_s,
            "Environment": {"Variables": dict(self.environment)},
            "EphemeralStorage": {"Size": self.ephemeral_mb},
            "Description": self.description,
            "SnapStart": {"ApplyOn": "PublishedVersions" if self.snap_start else "None"},
            "Layers": [layer.arn for layer in self.layers],
            "DeadLetterConfig": {"TargetArn": self.dead_letter_arn},
            "TracingConfig": {"Mode": "Active" if self.tracing_active else "PassThrough"},
        }
        if self.role_arn:
            out["Role"] = self.role_arn
        logging: dict[str, str] = {}
        if self.log_format is not None:
            logging["LogFormat"] = self.log_format
        if self.log_group is not None:
            logging["LogGroup"] = self.log_group
        if self.application_log_level is not None:
            logging["ApplicationLogLevel"] = self.application_log_level
        if self.system_log_level is not None:
            logging["SystemLogLevel"] = self.system_log_level
        if logging:
            out["LoggingConfig"] = logging
        return out


@dataclass(frozen=True, slots=True)
class QueueSpec:
    logical_id: str
    name: str
    attributes: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """An ``AWS::SNS::Topic``: its settable attributes (``DisplayName``, ...) and tags."""

    logical_id: str
    name: str
    attributes: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def arn(self, region: str, account: str) -> str:
        return arns.topic_arn(region, account, self.name)


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """A topic's subscriber (``AWS::SNS::Subscription``, a topic's ``Subscription`` list,
    a function's ``SNS`` event); its identity is (topic ARN, protocol, endpoint)."""

    key: str  # the resource's logical id, "<topic>.Subscription<i>" or "<function>.<event>"
    topic_arn: str
    protocol: str
    endpoint: str
    # FilterPolicy, FilterPolicyScope, RawMessageDelivery, RedrivePolicy, DeliveryPolicy
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NotificationSpec:
    """One bucket notification: objects matching ``events``/prefix/suffix go to a target."""

    id: str
    kind: Literal["lambda", "queue"]
    target_arn: str
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True, slots=True)
class BucketSpec:
    logical_id: str
    name: str
    notifications: tuple[NotificationSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """An SQS event source mapping; its identity is (queue ARN, function ARN)."""

    key: str  # "<function logical id>.<event name>", for reports
    queue_arn: str
    function_name: str
    qualifier: str | None
    batch_size: int = 10
    batching_window_s: int = 0
    enabled: bool = True
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class TargetSpec:
    id: str
    arn: str
    input: str | None = None
    input_path: str | None = None
    max_retries: int | None = None  # RetryPolicy (None: EventBridge's default)
    max_age_s: int | None = None
    message_group_id: str | None = None  # SqsParameters.MessageGroupId (a FIFO queue's)

    def compared(self) -> tuple[str, str, str | None, str | None, int, int, str | None]:
        """What a plan compares, the RetryPolicy's defaults (185, 24 h) filled in."""
        return (
            self.id,
            self.arn,
            self.input,
            self.input_path,
            185 if self.max_retries is None else self.max_retries,
            86_400 if self.max_age_s is None else self.max_age_s,
            self.message_group_id,
        )

    def body(self) -> dict[str, Any]:
        """The target as PutTargets takes it."""
        out: dict[str, Any] = {"Id": self.id, "Arn": self.arn}
        if self.input is not None:
            out["Input"] = self.input
        if self.input_path is not None:
            out["InputPath"] = self.input_path
        policy: dict[str, int] = {}
        if self.max_retries is not None:
            policy["MaximumRetryAttempts"] = self.max_retries
        if self.max_age_s is not None:
            policy["MaximumEventAgeInSeconds"] = self.max_age_s
        if policy:
            out["RetryPolicy"] = policy
        if self.message_group_id is not None:
            out["SqsParameters"] = {"MessageGroupId": self.message_group_id}
        return out


@dataclass(frozen=True, slots=True)
class RuleSpec:
    key: str
    name: str
    schedule: str  # "" for a rule with only an event pattern
    enabled: bool = True
    description: str = ""
    targets: tuple[TargetSpec, ...] = ()
    pattern: str | None = None  # EventPattern JSON text (events put to the default bus)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """An EventBridge Scheduler schedule (``AWS::Scheduler::Schedule``, SAM ``ScheduleV2``)."""

    key: str  # "Fn.Event" or the resource's logical id
    name: str
    expression: str
    target_arn: str
    enabled: bool = True
    description: str = ""
    group: str = "default"
    window_minutes: int | None = None  # FlexibleTimeWindow: None is OFF
    input: str | None = None
    max_retries: int | None = None  # RetryPolicy (None: Scheduler's default)
    max_age_s: int | None = None
    message_group_id: str | None = None  # SqsParameters.MessageGroupId (a FIFO queue's)

    def body(self, account: str) -> dict[str, Any]:
        """The CreateSchedule / UpdateSchedule request."""
        window: dict[str, Any] = {"Mode": "OFF"}
        if self.window_minutes:
            window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": self.window_minutes}
        target: dict[str, Any] = {
            "Arn": self.target_arn,
            "RoleArn": arns.role_arn(account, "lamina-scheduler"),
        }
        if self.input is not None:
            target["Input"] = self.input
        policy = {}
        if self.max_retries is not None:
            policy["MaximumRetryAttempts"] = self.max_retries
        if self.max_age_s is not None:
            policy["MaximumEventAgeInSeconds"] = self.max_age_s
        if policy:
            target["RetryPolicy"] = policy
        if self.message_group_id is not None:
            target["SqsParameters"] = {"MessageGroupId": self.message_group_id}
        out: dict[str, Any] = {
            "Name": self.name,
            "GroupName": self.group,
            "ScheduleExpression": self.expression,
            "FlexibleTimeWindow": window,
            "Target": target,
            "State": "ENABLED" if self.enabled else "DISABLED",
        }
        if self.description:
            out["Description"] = self.description
        return out


@dataclass(frozen=True, slots=True)
class ApiRouteSpec:
    """An API route: ``METHOD /path`` of an API (REST: payload 1.0, HTTP API: 2.0 default)."""

    key: str
    api: str  # logical id of the API (ServerlessRestApi / ServerlessHttpApi for implicit ones)
    api_kind: Literal["rest", "http"]
    method: str  # GET, POST, ..., ANY
    path: str  # "/items/{id}", "/{proxy+}", or "$default"
    function_name: str
    qualifier: str | None
    payload_version: str
    stage: str = "$default"
    state_machine: str | None = None  # set: the route starts an execution (function_name "")

    def entry(self) -> dict[str, str]:
        """The route as the server's API and the routes file spell it."""
        key = "$default" if self.path == "$default" else f"{self.method} {self.path}"
        if self.state_machine is not None:
            return {"route": key, "stateMachine": self.state_machine}
        fn = self.function_name + (f":{self.qualifier}" if self.qualifier else "")
        return {"route": key, "function": fn, "payloadFormatVersion": self.payload_version}


@dataclass(frozen=True, slots=True)
class Skipped:
    """A resource, event or property Lamina does not make: listed, never silently dropped."""

    what: str  # "MyTable (AWS::DynamoDB::Table)", "Fn.Events.Stream (Kinesis)", ...
    reason: str
    ignored: bool = False  # True: not needed on Lamina (IAM, permissions); False: unsupported


@dataclass(frozen=True, slots=True)
class StateMachineSpec:
    """A Step Functions state machine (``AWS::Serverless::StateMachine`` or
    ``AWS::StepFunctions::StateMachine``): its definition is final JSON text, with
    ``DefinitionSubstitutions`` applied and intrinsics resolved."""

    logical_id: str
    name: str
    definition: str
    role_arn: str
    type: Literal["STANDARD", "EXPRESS"] = "STANDARD"
    tags: dict[str, str] = field(default_factory=dict)

    def arn(self, region: str, account: str) -> str:
        return arns.state_machine_arn(region, account, self.name)


@dataclass
class StackSpec:
    """Everything a template asks Lamina for, by kind, plus what was left out and why."""

    name: str
    region: str
    account: str
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    layers: dict[str, LayerSpec] = field(default_factory=dict)
    log_groups: dict[str, LogGroupSpec] = field(default_factory=dict)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    topics: dict[str, TopicSpec] = field(default_factory=dict)
    subscriptions: list[SubscriptionSpec] = field(default_factory=list)
    buckets: dict[str, BucketSpec] = field(default_factory=dict)
    mappings: list[MappingSpec] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    routes: list[ApiRouteSpec] = field(default_factory=list)
    state_machines: dict[str, StateMachineSpec] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)  # unresolved; resolved after apply

    def function_by_name(self, name: str) -> FunctionSpec | None:
        for spec in self.functions.values():
            if spec.name == name:
                return spec
        return None
