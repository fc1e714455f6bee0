"""The composition root: builds every component from one :class:`Settings` and runs them.

Start-up order matters: stores first (so a bad data directory fails fast), then the
sandbox (which compiles its jail and prepares cgroups), the scheduler, and last the
HTTP listener, so no request arrives before Lamina can serve it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lamina.api.app import MAX_REQUEST_BYTES, LambdaApi
from lamina.arns import function_arn, parse_arn
from lamina.billing.ledger import Ledger
from lamina.billing.prices import load_prices
from lamina.cluster.demand import DemandMonitor
from lamina.cluster.placement import Placement
from lamina.config import Settings
from lamina.console.app import REACH as CONSOLE_REACH
from lamina.console.app import Console
from lamina.console.jobs import Jobs
from lamina.console.session import Sessions
from lamina.console.triggers import TriggerReader
from lamina.console.workflows import WorkflowPages
from lamina.errors import ApiError, ConfigError, ServiceError
from lamina.events.recursion import RecursionGuard
from lamina.events.schedule.runner import scaled_clock
from lamina.events.sources import EventSources
from lamina.functions import Functions
from lamina.logs.store import LogStore
from lamina.metrics.endpoint import REACH as METRICS_REACH
from lamina.metrics.endpoint import MetricsEndpoint
from lamina.metrics.otlp import OtlpExporter
from lamina.metrics.prometheus import EsmBatches
from lamina.models.invocation import InvokeResult
from lamina.runtime_api.stream import ResponseStream
from lamina.runtimes.registry import RuntimeRegistry
from lamina.runtimes.sdk import build_python_sdk, compile_in_background, default_cache_dir
from lamina.sandbox import create_sandbox
from lamina.scheduler.driver import InvokeRequest, Scheduler
from lamina.services.cloudformation.engine import DeployerFactory, StackEngine
from lamina.services.cloudformation.handler import (
    RECORD_REACH,
    CloudFormationHandler,
    is_record_request,
)
from lamina.services.cloudformation.store import StackStore
from lamina.services.cloudformation.writes import StackWrites
from lamina.services.cloudwatch.alarm_runner import AlarmRunner
from lamina.services.cloudwatch.custom import CustomMetrics
from lamina.services.cloudwatch.service import CloudWatchService
from lamina.services.cloudwatch.sources import MetricSources
from lamina.services.iam.service import IamService
from lamina.services.logs.service import LogsService
from lamina.services.sqs.messaging import MessageOperations
from lamina.services.sqs.requests import Caller as SqsCaller
from lamina.services.stepfunctions.handler import StepFunctions
from lamina.services.stepfunctions.mocks import load_mock_config
from lamina.services.sts import StsHandler
from lamina.services.xray.service import XrayService
from lamina.store.code import CodeStore
from lamina.store.datalock import DataDirLock
from lamina.store.metadata import MetadataStore
from lamina.store.optdir import LayerMerger
from lamina.tracing import INCOMING
from lamina.triggers import TRIGGER
from lamina.wire.server import HttpLimits, bound_port, serve, serve_socket
from lamina.xray.daemon import XrayDaemon
from lamina.xray.traces import TraceStore, record_observer

if TYPE_CHECKING:
    from lamina.cluster.control import Cluster

log = logging.getLogger("lamina.server")


@dataclass
class Lamina:
    """A running server and its parts (tests use it to reach inside)."""

    settings: Settings
    metadata: MetadataStore
    code: CodeStore
    ledger: Ledger
    logs: LogStore
    scheduler: Scheduler
    functions: Functions
    api: LambdaApi
    events: EventSources
    iam: IamService
    workflows: StepFunctions
    server: asyncio.Server
    port: int
    lock: DataDirLock
    logs_service: LogsService | None = None
    alarms: AlarmRunner | None = None
    otlp: OtlpExporter | None = None
    metrics: MetricsEndpoint | None = None
    custom_metrics: CustomMetrics | None = None
    stacks: StackStore | None = None
    cluster: Cluster | None = None  # --cluster: the Ray cluster's nodes run the functions
    stack_engine: StackEngine | None = None  # CloudFormation change sets (sam deploy)
    xray: XrayDaemon | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def close(self) -> None:
        self.server.close()
        if self.logs_service is not None:
            await self.logs_service.keeper.close()
        await self.workflows.close()
        if self.alarms is not None:
            await self.alarms.close()
        if self.metrics is not None:
            await self.metrics.close()
        await self.events.close()
        if self.cluster is not None:
            await self.cluster.close()
        await self.scheduler.close()
        self.scheduler.sandbox.close()
        self.ledger.close()
        if self.xray is not None:
            self.xray.close()
        if self.otlp is not None:
            self.otlp.close()
        self.logs.flush()  # its last EMF lines go to the custom metrics, closed after
        if self.custom_metrics is not None:
            self.custom_metrics.close()
        self.iam.close()
        self.metadata.close()
        self.functions.layers.store.close()
        if self.stack_engine is not None:
            self.stack_engine.close()
        if self.stacks is not None:
            self.stacks.close()
        self.lock.release()


async def start(settings: Settings, deployer: DeployerFactory | None = None) -> Lamina:
    """Build and start everything; listen on ``settings.port`` (0 picks a free port).

    ``deployer``: how CloudFormation change sets are deployed (``lamina serve`` passes
    ``lamina.sam.serverside``'s); without one, only CloudFormation's read API is served."""
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    lock = DataDirLock(data).acquire()
    try:
        return await _start_locked(settings, lock, deployer)
    except BaseException:
        lock.release()
        raise


async def _start_locked(
    settings: Settings, lock: DataDirLock, deployer: DeployerFactory | None
) -> Lamina:
    data = settings.data_dir
    metadata = MetadataStore(
        data / "lamina.db", region=settings.region, account_id=settings.account_id
    )
    code = CodeStore(data / "code")
    ledger = Ledger.open(data, load_prices())
    logs = LogStore(data / "logs")
    custom_metrics = CustomMetrics(data / "metrics.db")
    logs.on_emf = custom_metrics.ingest_emf  # EMF lines become custom metrics
    sandbox = create_sandbox(settings)
    runtimes = RuntimeRegistry(settings.interpreters)
    scheduler = Scheduler(settings, sandbox, runtimes, code.unpacked, logs, ledger.record)
    scheduler.on_throttle = ledger.record_throttle
    otlp = None
    if settings.otlp_endpoint:
        otlp = OtlpExporter(settings.otlp_endpoint, settings.region, settings.account_id)
        ledger.observers.append(otlp.observe)
    # X-Ray: the daemon functions with active tracing send segments to, and its traces.
    traces = TraceStore()
    xray = XrayDaemon(traces, otlp.observe_spans if otlp is not None else None)
    await xray.start()
    scheduler.launcher.xray = xray
    ledger.observers.append(record_observer(traces, settings.region, settings.account_id))
    iam = IamService.open(settings)
    # Functions get their execution role's temporary credentials, never the operator's keys.
    scheduler.launcher.credentials = iam.credentials_for
    # Functions with layers see them merged at /opt (built once per ordered set).
    scheduler.launcher.merge_layers = LayerMerger(data / "code" / "opt", code.unpacked).merged
    if settings.python_sdk:
        scheduler.python_sdk = build_python_sdk(default_cache_dir(data))
        if scheduler.python_sdk is not None:
            interpreters = {
                c.interpreter
                for c in runtimes.describe()
                if c.execution_env and "python" in c.execution_env and c.interpreter
            }
            compile_in_background(scheduler.python_sdk, sorted(interpreters))
    # On a cluster, reserved concurrency holds across nodes: the placement counts it too.
    placement = Placement(settings.concurrency_limit) if settings.cluster else None

    def reserve(function: str, reserved: int | None) -> None:
        scheduler.pool.set_reserved(function, reserved)
        if placement is not None:
            placement.set_reserved(function, reserved)

    functions = Functions(settings, metadata, code, scheduler.drain_function, reserve)
    if placement is None:  # on a cluster invokes run on the nodes: none provisioned here
        functions.provisioning = scheduler.provisioner
        # The configured concurrency is billed for each READY span (lamina.billing.provisioned).
        scheduler.provisioner.on_span = ledger.record_provisioned
    collected = functions.collect_code()
    if collected:
        log.info("removed %d code packages no function version uses", len(collected))
    api = LambdaApi(
        functions,
        scheduler,
        ledger,
        settings.region,
        settings.account_id,
        sessions=iam.session_secret,
        gate=iam,
    )
    # Before the event sources' mounts: an unsigned IAM query call also has an ``Action=``.
    api.mount_service(iam.handler.mount())
    api.mount_service(StsHandler(settings.account_id, iam.issuer.verify).mount())
    # CloudFormation's read API over the stacks `lamina up` records (PUT /lamina/v1/stacks),
    # and change sets the server deploys itself on a worker thread, reaching its own
    # endpoint (docs/sam.md, "sam deploy").
    stack_store = StackStore(data / "stacks.db")
    stack_engine = writes = None
    if deployer is not None:
        stack_engine = StackEngine(
            stack_store, data / "cloudformation", deployer(lambda: scheduler.api_endpoint)
        )
        writes = StackWrites(
            stack_store,
            stack_engine,
            settings.region,
            settings.account_id,
            lambda: _own_hosts(settings.host, scheduler.api_endpoint),
        )
    stacks = CloudFormationHandler(stack_store, writes=writes)
    api.mount_service(stacks.mount())
    api.mount(is_record_request, stacks.handle_record, reach=RECORD_REACH)
    events = open_event_sources(settings, functions, scheduler, metadata, api, ledger)
    # Bucket and queue policies take part in authorising functions' calls (IAM's
    # cross-policy evaluation): loaded now, kept up to date by their services.
    for service in (events.s3, events.sqs):
        for arn, document in await service.policies():
            iam.resources.set(arn, document)
        service.on_policy = iam.resources.set
    # CloudWatch Logs over the functions' logs.
    logs_service = LogsService.open(settings, logs)
    api.mount_service(logs_service.mount())
    workflows = open_workflows(settings, functions, scheduler, api, events)
    # Prometheus' scrape: Basic credentials or SigV4, checked by the endpoint itself.
    # On a cluster: the nodes' load and unmet demand, for /metrics and Ray's autoscaler.
    demand = DemandMonitor(placement) if placement is not None else None
    metrics = MetricsEndpoint(
        settings,
        ledger,
        scheduler.pool,
        api.auth,
        events.async_store.backlog,
        requests=lambda: api.requests,
        esm=lambda: [
            EsmBatches(uuid_, c.function, c.source, c.batches, c.records, c.failed)
            for uuid_, c in events.mappings.counts.items()
        ],
        cluster=None if demand is None else (lambda: demand.sample(time.time())),
        # On a cluster, invokes run on the nodes: the placement counts them cluster-wide.
        concurrency=None if placement is None else placement.active_counts,
        xray=xray.counts,
    )
    api.mount(metrics.accepts, metrics.handle, auth=None, reach=METRICS_REACH)
    metric_sources = MetricSources(ledger.rollups, custom_metrics)
    alarms = open_alarms(settings, metric_sources, events)
    cloudwatch = CloudWatchService(ledger, metric_sources, alarms, logs=logs)
    api.mount_service(cloudwatch.mount())
    api.mount_service(XrayService(traces, xray.put).mount())
    console = open_console(settings, functions, scheduler, ledger, events, workflows)
    console.subsegments = traces.subsegments
    # Its own login (cookie sessions).
    api.mount(console.accepts, console.handle, auth=None, reach=CONSOLE_REACH)
    scheduler.start()
    server = await serve(
        api.handle,
        settings.host,
        settings.port,
        max_body=MAX_REQUEST_BYTES,
        limits=http_limits(settings),
        screen=api.screen,
    )
    port = bound_port(server)
    reachable = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    # Before the event sources start: events re-delivered after a crash start environments
    # at once, and each must know where to reach Lamina (AWS_ENDPOINT_URL).
    scheduler.api_endpoint = f"http://{reachable}:{port}"
    events.sns.endpoint = scheduler.api_endpoint  # the links in SNS's notifications
    scheduler.serve_api_inside(
        port, lambda sock: serve_socket(api.handle, sock, max_body=MAX_REQUEST_BYTES)
    )
    # Provisioned concurrency's environments, once they can reach the API.
    functions.start_provisioned()
    cluster = None
    if placement is not None:
        # Imported here: Ray is an optional extra, loaded only for --cluster.
        from lamina.cluster.control import open_cluster

        # Before the event sources start: re-delivered events go to the nodes.
        cluster = await open_cluster(
            settings,
            scheduler,
            placement,
            ledger.record,
            logs,
            code.zip_path,
            port,
            iam.credentials_for,
        )
        if demand is not None:
            cluster.publish_demand(demand)
        # The views of environments ask the nodes (the control plane's pool is empty).
        api.ctx.environments = metrics.environments = cluster.environments
        from lamina.cluster.status import REACH as CLUSTER_REACH

        api.mount(cluster.status.accepts, cluster.status.handle, reach=CLUSTER_REACH)
    await events.start()
    logs_service.keeper.start()
    await workflows.start()
    alarms.start()
    metrics.start()
    log.info(
        "Lamina listening on http://%s:%d (data %s, sandbox tier %s)",
        settings.host,
        port,
        data,
        sandbox.tier,
    )
    for cmd in runtimes.describe():
        log.info(
            "runtime %-16s → %s %s%s",
            cmd.runtime,
            cmd.interpreter or "(bootstrap)",
            cmd.interpreter_version,
            f" — {cmd.note}" if cmd.note else "",
        )
    return Lamina(
        settings,
        metadata,
        code,
        ledger,
        logs,
        scheduler,
        functions,
        api,
        events,
        iam,
        workflows,
        server,
        port,
        lock,
        logs_service,
        alarms,
        otlp,
        metrics,
        custom_metrics,
        stacks.store,
        cluster,
        stack_engine,
        xray,
    )


def _own_hosts(host: str, endpoint: str) -> frozenset[str]:
    """The ``host:port`` forms naming this server (a TemplateURL must use one)."""
    port = endpoint.rpartition(":")[2]
    return frozenset(f"{h}:{port}" for h in ("127.0.0.1", "localhost", host) if h)


def open_alarms(settings: Settings, sources: MetricSources, events: EventSources) -> AlarmRunner:
    """CloudWatch alarms over the rollups and custom metrics, notifying functions (an
    asynchronous invoke, retried like any), SQS queues and SNS topics."""

    async def deliver(arn: str, payload: bytes, subject: str | None) -> None:
        parts = parse_arn(arn)
        if parts is not None and parts.service == "lambda":
            _, _, ref = parts.resource.partition(":")  # function:<name>[:<qualifier>]
            name, _, qualifier = ref.partition(":")
            await events.enqueue(name, qualifier or None, payload)
        elif parts is not None and parts.service == "sqs":
            await events.sqs.send_to_arn(arn, payload.decode(), {})
        elif parts is not None and parts.service == "sns":
            await events.sns.publish_to_arn(arn, payload.decode(), {}, subject)
        else:
            raise ServiceError(f"cannot notify {arn!r}")

    return AlarmRunner(
        settings.data_dir / "alarms.json",
        sources,
        deliver,
        settings.region,
        settings.account_id,
    )


def open_console(
    settings: Settings,
    functions: Functions,
    scheduler: Scheduler,
    ledger: Ledger,
    events: EventSources,
    workflows: StepFunctions,
) -> Console:
    """The web console, invoking through the scheduler like the API (with the log tail)."""

    async def invoke(name: str, payload: bytes) -> InvokeResult:
        cfg = functions.resolve(name, None)
        arn = function_arn(settings.region, settings.account_id, cfg.name, None)
        return await scheduler.invoke(
            InvokeRequest(cfg, payload, arn, str(uuid.uuid4()), tail=True)
        )

    return Console(
        functions,
        ledger,
        invoke,
        Sessions(settings.access_keys),
        TriggerReader(events),
        settings.concurrency_limit,
        WorkflowPages(workflows.operations),
        load_prices(),
        Jobs(lambda: scheduler.api_endpoint),
        settings.credentials(),
        scheduler.bus,
        scheduler.recent,
        scheduler.logs,
    )


def http_limits(settings: Settings) -> HttpLimits:
    """The HTTP front's limits from settings (a timeout of 0 or less is no timeout)."""
    return HttpLimits(
        max_header_bytes=settings.http_max_header_bytes,
        max_headers=settings.http_max_headers,
        header_timeout_s=_timeout(settings.http_header_timeout_s),
        idle_timeout_s=_timeout(settings.http_idle_timeout_s),
        body_timeout_s=_timeout(settings.http_body_timeout_s),
        min_body_rate=settings.http_min_body_rate,
    )


def _timeout(seconds: float) -> float | None:
    return seconds if seconds > 0 else None


def open_event_sources(
    settings: Settings,
    functions: Functions,
    scheduler: Scheduler,
    metadata: MetadataStore,
    api: LambdaApi,
    ledger: Ledger,
) -> EventSources:
    """Every event source, invoking through the scheduler, mounted on the API's port."""
    region, account = settings.region, settings.account_id

    async def invoke(name: str, qualifier: str | None, payload: bytes, rid: str) -> InvokeResult:
        cfg = functions.resolve(name, qualifier)
        arn = function_arn(region, account, cfg.name, qualifier)
        trace = INCOMING.get()
        return await scheduler.invoke(
            InvokeRequest(cfg, payload, arn, rid, trace_header=trace, trigger=TRIGGER.get())
        )

    async def invoke_stream(
        name: str, qualifier: str | None, payload: bytes, rid: str, stream: ResponseStream
    ) -> InvokeResult:
        cfg = functions.resolve(name, qualifier)
        arn = function_arn(region, account, cfg.name, qualifier)
        trace = INCOMING.get()
        return await scheduler.invoke(
            InvokeRequest(
                cfg, payload, arn, rid, stream=stream, trace_header=trace, trigger=TRIGGER.get()
            )
        )

    def resolve_function(name: str, qualifier: str | None) -> str:
        functions.get(name, qualifier)
        return function_arn(region, account, name)

    def dead_letter_target(name: str, qualifier: str | None) -> str | None:
        try:
            return functions.resolve(name, qualifier).dead_letter_arn or None
        except ApiError:
            return None  # the function is gone: its events have nowhere to go

    events = EventSources.open(
        settings,
        invoke,
        resolve_function=resolve_function,
        find_url=metadata.url_config_by_id,
        dead_letter_target=dead_letter_target,
        verify=api.authenticator("lambda").check,
        invoke_stream=invoke_stream,
    )
    # Recursive loop detection over the counted sources (lamina.events.recursion).
    guard = RecursionGuard(
        functions.loop_allowed,
        lambda name: function_arn(region, account, name),
        # RecursiveInvocationsDropped, per function (the stopped event names no version).
        lambda name: ledger.record_recursive_drop(name, "$LATEST", time.time()),
    )
    events.async_queue.recursion = guard
    events.mappings.recursion = guard
    api.attach_events(events)
    return events


def open_workflows(
    settings: Settings,
    functions: Functions,
    scheduler: Scheduler,
    api: LambdaApi,
    events: EventSources,
) -> StepFunctions:
    """Step Functions, invoking Task functions through the scheduler, on the API's port."""
    region, account = settings.region, settings.account_id
    reachable_host = f"{settings.host}:{settings.port}"
    sqs_messages = MessageOperations(events.sqs)
    if settings.workflow_time_scale < 0:
        raise ConfigError("workflow_time_scale must be 0 (as schedule_time_scale) or more")
    if settings.workflow_history_days < 0:
        raise ConfigError("workflow_history_days must be 0 (keep for ever) or more")

    async def invoke(name: str, qualifier: str | None, payload: bytes, rid: str) -> InvokeResult:
        cfg = functions.resolve(name, qualifier)
        arn = function_arn(region, account, cfg.name, qualifier)
        trace = INCOMING.get()
        return await scheduler.invoke(InvokeRequest(cfg, payload, arn, rid, trace_header=trace))

    scale = settings.workflow_time_scale or settings.schedule_time_scale
    workflows = StepFunctions.open(
        settings.data_dir,
        invoke,
        scaled_clock(scale),
        region=region,
        account=account,
        time_scale=scale,
        fsync=settings.async_fsync,
        send_message=lambda body: sqs_messages.send_message(body, SqsCaller(reachable_host)),
        mocks=load_mock_config(settings.sfn_mock_config),
        s3_handler=events.s3.handle,
        dispatch=api.answer_trusted,
        history_days=settings.workflow_history_days,
    )
    api.mount_service(workflows.mount())
    events.schedules.start_execution = workflows.start_from_event  # state machine targets
    events.apis.start_execution = workflows.start_from_event  # state machine API routes
    if events.routes is not None:
        events.routes.start_execution = workflows.start_from_event
    return workflows


def install_event_loop() -> str:
    """Use uvloop when installed (a faster loop for the invoke path); say which."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def open_files_wanted(soft: int, hard: int) -> int:
    """The soft open-files limit the server asks for: as many as it is allowed.

    The server holds ~11 descriptors per environment (pipes, cgroup files, its Runtime API
    socket, the /tmp volume), so a shell's usual soft limit of 1,024 would refuse new
    environments near 90; a thousand frozen environments need ~11,000. Functions never
    inherit it: the jail sets Lambda's 1,024 for the function's processes.
    """
    target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    return target


def raise_open_files_limit() -> None:
    """Raise the server's soft RLIMIT_NOFILE to what :func:`open_files_wanted` says."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = open_files_wanted(soft, hard)
    if wanted != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as err:
            log.warning("could not raise the open-files limit from %d to %d: %s", soft, wanted, err)


def run(
    settings: Settings,
    ready: asyncio.Event | None = None,
    deployer: DeployerFactory | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then shut every environment down cleanly."""
    loop_name = install_event_loop()
    raise_open_files_limit()

    async def main() -> None:
        lamina = await start(settings, deployer)
        # What start-up built lives as long as the server: collections skip it from here
        # on. One machine's heap is ~31,000 objects, a full collection a ~7 ms stall; a
        # cluster's control plane holds Ray's driver too (~114,000, ~60 ms). The same in
        # both modes (a cluster's workers do it too, lamina.cluster.worker). Only here,
        # in the serving process: an embedding test process keeps collecting as it was.
        gc.freeze()
        print(
            f"Lamina serving on {lamina.endpoint} ({loop_name}, sandbox: "
            f"{lamina.scheduler.sandbox.tier}, data: {settings.data_dir})",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready.set()
        await stop.wait()
        print("Lamina shutting down", flush=True)
        await lamina.close()

    asyncio.run(main())
