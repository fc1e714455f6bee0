"""Every event source, built from one :class:`Settings`, started and stopped together.

The composition root creates one :class:`EventSources` with the invoke coroutine and two
lookups it owns (function ARNs, function URL configurations), mounts the HTTP faces the
sources serve on the API's port (:meth:`EventSources.mounts`), routes the Lambda API's
event-invoke-config and event-source-mapping operations to the pure handlers here, and
awaits :meth:`EventSources.enqueue` for ``Event`` invokes.

Files in the data directory: ``async-invokes.db``, ``schedules.db``, ``sqs.db``,
``event-source-mappings.db``, ``sns.db``, ``event-archives.db``, ``s3/`` (``s3.db``, ``buckets/``, ``uploads/``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from lamina.arns import event_bus_arn, parse_arn, qualify, schedule_arn, split_function_arn
from lamina.config import Settings
from lamina.errors import ConfigError
from lamina.events.asyncinvoke.operations import EventInvokeConfigOperations, Resolve
from lamina.events.asyncinvoke.policy import RetryTimings
from lamina.events.asyncinvoke.queue import AsyncInvokeQueue, DeadLetterTarget
from lamina.events.asyncinvoke.registry import EventInvokeConfigs
from lamina.events.asyncinvoke.store import AsyncInvokeStore
from lamina.events.esm.clients import Boto3QueueClient, EmbeddedQueueClient, QueueClient
from lamina.events.esm.operations import MappingOperations
from lamina.events.esm.poller import MappingManager
from lamina.events.esm.store import MappingStore
from lamina.events.http.apis import STORE_FILE as API_STORE_FILE
from lamina.events.http.apis import ApiListeners, ApiStore
from lamina.events.http.handlers import REACH as URL_REACH
from lamina.events.http.handlers import ApiRoutesHandler, FindUrl, FunctionUrlHandler, Verify
from lamina.events.http.routes import load_routes
from lamina.events.invoker import Invoke, InvokeStream
from lamina.events.s3.dispatch import Notifier
from lamina.events.s3.external import S3Webhook
from lamina.events.schedule.runner import ScheduleRunner, scaled_clock
from lamina.services.eventbridge.archive_operations import ArchiveOperations
from lamina.services.eventbridge.archives import FILE as ARCHIVES_FILE
from lamina.services.eventbridge.archives import ArchiveStore
from lamina.services.eventbridge.operations import RuleOperations
from lamina.services.eventbridge.rules import RuleStore
from lamina.services.eventbridge.service import EventsService
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.services.s3.service import S3Service
from lamina.services.s3.store import ObjectStore
from lamina.services.scheduler.operations import ScheduleOperations
from lamina.services.scheduler.service import SchedulerService
from lamina.services.sns.fanout import Fanout
from lamina.services.sns.handler import SnsHandler
from lamina.services.sns.service import SnsService
from lamina.services.sns.store import SnsStore
from lamina.services.sqs.handler import SqsHandler
from lamina.services.sqs.service import SqsService
from lamina.services.sqs.store import SqsStore
from lamina.store.resource_tags import ResourceTags
from lamina.wire.server import bound_port, serve

log = logging.getLogger("lamina.events")


def parse_sqs_endpoints(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        account, eq, url = item.partition("=")
        if not eq or not account.strip().isdigit() or not url.strip().startswith("http"):
            raise ConfigError(
                f"sqs_endpoints entry {item!r} must look like 111122223333=http://host:port"
            )
        out[account.strip()] = url.strip()
    return out


@dataclass(frozen=True)
class SchedulerParts:
    """EventBridge Scheduler: its schedules, the runner that fires them, its protocol."""

    store: RuleStore
    runner: ScheduleRunner
    service: SchedulerService


@dataclass
class EventSources:
    settings: Settings
    async_store: AsyncInvokeStore
    invoke_configs: EventInvokeConfigs
    async_queue: AsyncInvokeQueue
    event_invoke_config_ops: EventInvokeConfigOperations
    sqs_store: SqsStore
    sqs: SqsService
    sqs_handler: SqsHandler
    rule_store: RuleStore
    rule_ops: RuleOperations
    events_service: EventsService
    schedules: ScheduleRunner
    mapping_store: MappingStore
    mapping_ops: MappingOperations
    mappings: MappingManager
    object_store: ObjectStore
    s3: S3Service
    s3_webhook: S3Webhook
    urls: FunctionUrlHandler
    routes: ApiRoutesHandler | None
    apis: ApiListeners
    scheduler: SchedulerParts
    sns_store: SnsStore
    sns: SnsService
    archives: ArchiveOperations | None = None  # EventBridge archives and replays
    _servers: list[asyncio.Server] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    routes_port: int = 0  # where API routes listen, once started

    @classmethod
    def open(
        cls,
        settings: Settings,
        invoke: Invoke,
        *,
        resolve_function: Resolve,
        find_url: FindUrl,
        verify: Verify | None = None,
        dead_letter_target: DeadLetterTarget | None = None,
        invoke_stream: InvokeStream | None = None,
    ) -> EventSources:
        """Open every store (fast; no tasks yet). ``resolve_function(name, qualifier)``
        returns the unqualified function ARN or raises ResourceNotFound."""
        data = settings.data_dir
        region, account = settings.region, settings.account_id
        sqs_store = SqsStore(data / "sqs.db", fsync=settings.async_fsync)
        sqs = SqsService(sqs_store, region, account)
        async_store = AsyncInvokeStore(data / "async-invokes.db", fsync=settings.async_fsync)
        configs = EventInvokeConfigs(async_store)
        queue = AsyncInvokeQueue(
            async_store,
            invoke,
            configs,
            region=region,
            account=account,
            send_to_queue=sqs.send_to_arn,
            dead_letter_target=dead_letter_target,
            timings=RetryTimings(
                (settings.async_retry_delay_1_s, settings.async_retry_delay_2_s),
                1.0,
                settings.async_throttle_max_s,
            ),
            workers=settings.async_workers,
            lease_s=settings.async_lease_s,
        )
        if not settings.schedule_time_scale > 0:
            raise ConfigError("schedule_time_scale must be greater than 0")
        schedule_clock = scaled_clock(settings.schedule_time_scale)
        rule_store = RuleStore(data / "schedules.db")
        rule_ops = RuleOperations(
            rule_store, region, account, clock=schedule_clock, tags=ResourceTags(data / "tags.db")
        )
        # EventBridge rules' schedules and EventBridge Scheduler's run alike: one runner each.
        runner_of = partial(
            ScheduleRunner,
            enqueue=queue.enqueue,
            region=region,
            account=account,
            send_to_queue=sqs.send_to_arn,
            catchup_s=settings.schedule_catchup_s,
            clock=schedule_clock,
            time_scale=settings.schedule_time_scale,
        )
        runner = runner_of(rule_store)
        rule_ops.changed = runner.wake
        rule_ops.publish = runner.publish
        queue.put_on_bus = rule_ops.put_on_bus  # event-bus destinations
        archives = ArchiveOperations(
            ArchiveStore(data / ARCHIVES_FILE, fsync=settings.async_fsync),
            region,
            account,
            has_bus=rule_ops.has_bus,
            bus_arn=partial(event_bus_arn, region, account),
            put_event=rule_ops.put_event,
        )
        rule_ops.archive = archives.record
        rule_ops.bus_deleted = archives.bus_deleted
        sns_store = SnsStore(data / "sns.db", fsync=settings.async_fsync)
        sns = SnsService(sns_store, Fanout(queue.enqueue, sqs.send_to_arn), region, account)
        queue.publish = sns.publish_to_arn  # topic destinations and dead-letter topics
        scheduler_store = RuleStore(data / "scheduler.db")
        scheduler_ops = ScheduleOperations(scheduler_store, region, account, clock=schedule_clock)
        scheduler_runner = runner_of(
            scheduler_store,
            source="aws.scheduler",
            arn_of=lambda key: schedule_arn(region, account, key),
        )
        scheduler_ops.changed = scheduler_runner.wake
        runner.publish_to_topic = sns.publish_to_arn  # rules' topic targets
        scheduler_runner.publish_to_topic = sns.publish_to_arn  # schedules' topic targets
        endpoints = parse_sqs_endpoints(settings.sqs_endpoints)

        def client_for(arn: str) -> QueueClient:
            queue = parse_arn(arn)  # validated when the mapping was made
            assert queue is not None
            if queue.account == account and queue.region == region:
                return EmbeddedQueueClient(sqs, queue.resource)
            return Boto3QueueClient(arn, endpoints.get(queue.account))

        def resolve_mapping_function(fn: str) -> tuple[str, str | None, str]:
            name, qualifier = split_function_arn(fn)
            base = resolve_function(name, qualifier)
            return name, qualifier, qualify(base, qualifier)

        mapping_store = MappingStore(data / "event-source-mappings.db")
        mapping_ops = MappingOperations(mapping_store, resolve_mapping_function, region, account)
        manager = MappingManager(mapping_store, client_for, invoke, region)
        mapping_ops.changed = manager.changed
        object_store = ObjectStore(data / "s3")
        notifier = Notifier(queue.enqueue, sqs.send_to_arn)
        notifier.publish = sns.publish_to_arn  # TopicConfigurations
        s3 = S3Service(object_store, notifier, region, account)
        urls = FunctionUrlHandler(
            find_url,
            invoke,
            region=region,
            account=account,
            verify=verify,
            invoke_stream=invoke_stream,
            stream_limit=settings.stream_response_max_bytes,
            stream_bandwidth=settings.stream_bandwidth_bytes_s,
        )
        routes = None
        if settings.http_routes_file is not None:
            routes = ApiRoutesHandler(
                load_routes(settings.http_routes_file),
                invoke,
                region=region,
                account=account,
                host=settings.host,
            )
        return cls(
            settings,
            async_store,
            configs,
            queue,
            EventInvokeConfigOperations(configs, resolve_function),
            sqs_store,
            sqs,
            SqsHandler(sqs),
            rule_store,
            rule_ops,
            EventsService(rule_ops, archives),
            runner,
            mapping_store,
            mapping_ops,
            manager,
            object_store,
            s3,
            S3Webhook(notifier, region),
            urls,
            routes,
            ApiListeners(
                ApiStore(data / API_STORE_FILE),
                invoke,
                host=settings.host,
                region=region,
                account=account,
            ),
            SchedulerParts(scheduler_store, scheduler_runner, SchedulerService(scheduler_ops)),
            sns_store,
            sns,
            archives,
        )

    # -- the shared port ------------------------------------------------------------------
    def mounts(self) -> list[Mount]:
        """What to mount on the API's port, in order, with the SigV4 service to verify as
        and the protocol to answer in."""
        webhook = self.s3_webhook
        return [
            Mount(FunctionUrlHandler.accepts, self.urls.handle, None, reach=URL_REACH),  # AuthType
            self.events_service.mount(),
            self.scheduler.service.mount(),
            # Before SQS's: SQS takes any unsigned query call, SNS's carry its version.
            SnsHandler(self.sns).mount(),
            self.sqs_handler.mount(),
            Mount(
                lambda r: r.path.startswith(webhook.prefix),
                webhook.handle,
                "lambda",
                reach=Reach(paths=(webhook.prefix,)),
            ),
            self.s3.mount(),  # last: the widest selector
        ]

    # -- lifecycle ------------------------------------------------------------------------
    async def enqueue(
        self,
        function: str,
        qualifier: str | None,
        payload: bytes,
        trace_header: str | None = None,
    ) -> str:
        """Accept an ``Event`` invoke durably; await this before answering 202."""
        return await self.async_queue.enqueue(
            function, qualifier, payload, trace_header=trace_header
        )

    async def start(self) -> None:
        self.async_queue.start()
        await self.sqs.moves.resume()  # SQS redrives a restart cut short
        self.schedules.start()
        self.scheduler.runner.start()
        self.mappings.start()
        if self.routes is not None:
            routes = self.routes
            server = await serve(
                routes.handle, self.settings.host, self.settings.http_routes_port, max_body=6 << 20
            )
            self._servers.append(server)
            self.routes_port = bound_port(server)
            log.info("API routes on http://%s:%d", self.settings.host, self.routes_port)
            path = self.settings.http_routes_file
            assert path is not None
            self._tasks.append(asyncio.create_task(_reload_routes(routes, path)))
        await self.apis.start()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.apis.close()
        for server in self._servers:
            server.close()
        await self.mappings.close()
        await self.schedules.close()
        await self.scheduler.runner.close()
        await self.async_queue.close()
        await self.sqs.moves.close()
        if self.archives is not None:
            await self.archives.close()
            self.archives.store.close()
        for store in (
            self.async_store,
            self.sqs_store,
            self.sns_store,
            self.rule_store,
            self.scheduler.store,
            self.mapping_store,
            self.object_store,
        ):
            store.close()
        if self.rule_ops.tags is not None:
            self.rule_ops.tags.close()

    def function_deleted(self, name: str) -> None:
        """Forget a deleted function's event invoke configurations."""
        self.invoke_configs.delete_function(name)


ROUTES_POLL_S = 0.5


async def _reload_routes(handler: ApiRoutesHandler, path: Path) -> None:
    """Serve the routes file's new routes as soon as it changes (no restart).

    Polled: it costs one ``stat`` a poll and works on every file system. A file that does
    not parse is logged and the routes already served stay.
    """
    seen = _stamp(path)
    while True:
        await asyncio.sleep(ROUTES_POLL_S)
        stamp = _stamp(path)
        if stamp == seen:
            continue
        seen = stamp
        try:
            handler.api = load_routes(path)
        except ConfigError as exc:
            log.error("API routes not reloaded: %s", exc)
            continue
        log.info("API routes reloaded from %s (%d routes)", path, len(handler.api.routes))


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
