"""Settings, loaded once at start-up (defaults ← ``LAMINA_*`` environment ← CLI flags).

Nothing in Lamina reads the environment at import time: the server builds one
:class:`Settings` and passes it to every component that needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from lamina.errors import ConfigError

Isolation = Literal["auto", "process", "none"]
# Which Python functions start from a zygote (a forked, pre-initialised runtime, like
# Lambda SnapStart): those with SnapStart on, every Python function, or none.
ZygoteMode = Literal["snapstart", "python", "off"]

# The documented development key pair. With no LAMINA_ACCESS_KEYS, Lamina accepts unsigned
# requests and requests signed with this pair, and refuses requests signed with any other.
DEV_ACCESS_KEY_ID = "AKIDLAMINA"
DEV_SECRET_ACCESS_KEY = "lamina-secret"


def default_data_dir(env: Mapping[str, str]) -> Path:
    """A per-user data directory: ``$XDG_DATA_HOME/lamina`` or ``~/.local/share/lamina``."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "/tmp")) / ".local" / "share")
    return Path(base) / "lamina"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one Lamina server."""

    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: Path = field(default_factory=lambda: default_data_dir(os.environ))
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # Concurrency: Lambda's default account limit, and the share reserved concurrency must leave.
    concurrency_limit: int = 1000
    unreserved_minimum: int = 100
    # Environment lifecycle (seconds). Lambda reclaims idle environments after minutes and
    # recycles busy ones after hours; both are configurable so tests need no waiting.
    idle_reclaim_s: float = 300.0
    max_lifetime_s: float = 7200.0
    init_timeout_s: float = 10.0
    # Freeze an environment only after it has been idle this long, so a busy one never pays
    # the ~0.5 ms freeze/thaw on its hot path.
    freeze_grace_s: float = 0.05
    # ... or, while events of its function and configuration keep coming (a steady high
    # concurrency, whose busy count wobbles), after this long (lamina.scheduler.pool).
    freeze_hold_s: float = 1.0
    # Lambda runs INIT without the memory-proportional CPU cap (lambda-perf's 85 ms Python
    # INIT at 128 MB would take ~0.5 s at 7 % of a CPU); the cap applies from the first event.
    init_cpu_boost: bool = True
    # Provide boto3 to Python functions as Lambda's Python runtimes do (lamina.runtimes.sdk).
    python_sdk: bool = True
    isolation: Isolation = "auto"
    zygotes: ZygoteMode = "snapstart"
    # Process tier: every environment in its own network namespace (its Runtime API at
    # 127.0.0.1:9001 inside it, Lamina's API at 127.0.0.1:<port>, nothing else of the host);
    # False keeps the host's network (and its loopback) shared, as before.
    network_isolation: bool = True
    # Environments may open connections to the outside network (veth + the host's NAT), as
    # a Lambda function outside a VPC can; False leaves them only their loopback.
    network_outbound: bool = True
    # Process tier: environments get a minimal read-only root filesystem of their own
    # (lamina.sandbox.rootfs); False shows them the host's tree with Lamina's data hidden.
    own_rootfs: bool = True
    # With own_rootfs: /usr is a tree made for functions (a shell and small tools, the
    # runtimes' interpreters and the libraries they need; lamina.sandbox.usrtree); False
    # binds the host's whole /usr.
    own_usr: bool = True
    # Process tier: /tmp is a disk volume of EphemeralStorage's size (ENOSPC at the limit,
    # not charged to memory; lamina.sandbox.ephemeral); False: a tmpfs charged to memory.
    ephemeral_on_disk: bool = True
    # Volumes of the default 512 MB kept ready (each costs tens of ms to make).
    ephemeral_pool: int = 8
    # Namespaces kept ready so cold starts do not wait for one.
    netns_pool: int = 8
    # A zygote nobody forked from for this long (and with no environment left) is stopped.
    zygote_idle_s: float = 3600.0
    # Extra interpreter mappings, e.g. {"python3.12": "/usr/bin/python3.12"}.
    interpreters: dict[str, str] = field(default_factory=dict)
    log_level: str = "info"
    # SigV4 access keys, id → secret, from LAMINA_ACCESS_KEYS="AKID:secret,AKID2:secret2".
    # When set, every API request must be signed with one of them; when empty, Lamina runs
    # in dev mode (see DEV_ACCESS_KEY_ID). Kept out of repr so secrets never reach a log.
    access_keys: dict[str, str] = field(default_factory=dict, repr=False)
    # How far a signed request's X-Amz-Date may be from the server's clock (AWS: 5 minutes).
    signature_skew_s: int = 300
    # The HTTP front under abuse (lamina/wire): a request head over this many bytes or
    # header lines is refused with 431; a head must be complete this long after its first
    # byte (408), and a connection that sends nothing and is owed nothing is closed after
    # the idle timeout. 0 turns a timeout off.
    http_max_header_bytes: int = 32 * 1024
    http_max_headers: int = 100
    http_header_timeout_s: float = 20.0
    http_idle_timeout_s: float = 60.0
    http_body_timeout_s: float = 20.0
    http_min_body_rate: int = 500
    # CreateFunction/UpdateFunctionCode with S3Bucket/S3Key read <code_bucket_dir>/<bucket>/<key>
    # (default: <data_dir>/buckets).
    code_bucket_dir: Path | None = None
    # Response streaming: Lambda's soft limit on one streamed response (20 MB).
    stream_response_max_bytes: int = 20 * 1024 * 1024
    # After its first 6 MB a streamed response goes at most this fast (bytes/s; 0: no cap),
    # as on Lambda (2 MB/s).
    stream_bandwidth_bytes_s: int = 2 * 1024 * 1024
    # -- event sources (lamina/events) --------------------------------------------------
    # Async invokes: fsync every group commit (off: survives a process crash, not power loss).
    async_fsync: bool = True
    async_workers: int = 64
    # Lambda retries a failed async event after ~1 minute, then after ~2 minutes; throttles
    # back off exponentially up to async_throttle_max_s. Shorter values make tests quick.
    async_retry_delay_1_s: float = 60.0
    async_retry_delay_2_s: float = 120.0
    async_throttle_max_s: float = 300.0
    # An event leased by a worker becomes due again after this (> the 900 s max timeout).
    async_lease_s: float = 960.0
    # Schedules: the latest tick missed within this window (e.g. during a restart) fires
    # once, late; older missed ticks are skipped.
    schedule_catchup_s: float = 300.0
    # Schedules' clock runs this many times faster than real time (tests and demos only:
    # 60 makes rate(1 minute) fire every second; it restarts at real time with the server).
    schedule_time_scale: float = 1.0
    # External SQS-compatible endpoints by account: "111122223333=http://127.0.0.1:4566,...".
    # Queues of Lamina's own account are the embedded ones.
    sqs_endpoints: str = ""
    # API routes ("GET /items/{id}" -> function) from this JSON file, served on their port.
    http_routes_file: Path | None = None
    http_routes_port: int = 9001
    # CloudWatch Logs: the most a log group keeps on disk (oldest streams go first), and how
    # often retention and this cap are enforced.
    log_group_max_mb: int = 256
    log_sweep_s: float = 60.0
    # -- workflows (lamina/workflows, lamina/services/stepfunctions) ------------------------
    # Step Functions Local's mock configuration: executions started on "<arn>#<TestCase>"
    # answer the test case's Task states with mocked responses.
    sfn_mock_config: Path | None = None
    # Workflows' clock (Wait states, retry intervals, task timeouts and heartbeats) runs this
    # many times faster than real time; 0 means "as schedule_time_scale" (tests and demos).
    workflow_time_scale: float = 0.0
    # Ended Standard executions (and their histories) are deleted this many days after they
    # closed, as AWS keeps them for 90 (on the workflows' clock); 0 keeps them for ever.
    workflow_history_days: float = 90.0
    # OTLP/HTTP (JSON) collector base URL, e.g. http://127.0.0.1:4318: one span per invoke
    # is exported to <otlp_endpoint>/v1/traces. Empty: no export.
    otlp_endpoint: str = ""
    # A Ray cluster's address (host:port of its head, or "auto"): run the control plane here
    # and the functions on the cluster's nodes (docs/cluster.md). Empty: one machine.
    cluster: str = ""
    # On a cluster, the views of environments reuse each node's answer this long (seconds).
    cluster_view_max_age_s: float = 1.0

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def signature_required(self) -> bool:
        """True when access keys are configured: unsigned requests are refused."""
        return bool(self.access_keys)

    def verification_keys(self) -> dict[str, str]:
        """The keys a signature is checked against: the configured ones, or the dev pair."""
        return dict(self.access_keys) or {DEV_ACCESS_KEY_ID: DEV_SECRET_ACCESS_KEY}

    def credentials(self) -> tuple[str, str]:
        """The pair Lamina and its CLI sign with: the first configured one, or the dev pair."""
        for key_id, secret in self.access_keys.items():
            return key_id, secret
        return DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY

    @property
    def buckets_dir(self) -> Path:
        return (
            self.code_bucket_dir if self.code_bucket_dir is not None else self.data_dir / "buckets"
        )

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


_ENV_PREFIX = "LAMINA_"


def _coerce(name: str, raw: str, kind: object) -> object:
    try:
        if kind in (bool, "bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (Path, "Path", "Path | None"):
            return Path(raw).expanduser()
    except ValueError as exc:
        raise ConfigError(f"{_ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw


def parse_interpreters(raw: str) -> dict[str, str]:
    """Parse ``python3.12=/usr/bin/python3.12,nodejs22.x=/opt/node22/bin/node``."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        runtime, eq, path = item.partition("=")
        if not eq or not runtime or not path:
            raise ConfigError(f"interpreter mapping {item!r} must look like runtime=/path/to/bin")
        out[runtime.strip()] = path.strip()
    return out


def parse_access_keys(raw: str) -> dict[str, str]:
    """Parse ``AKID:secret,AKID2:secret2`` (a secret may contain ``:``, not ``,``)."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key_id, colon, secret = item.partition(":")
        key_id = key_id.strip()
        if not colon or not key_id or not secret:
            raise ConfigError(
                "LAMINA_ACCESS_KEYS entries must look like ACCESS_KEY_ID:SECRET_ACCESS_KEY"
            )
        if not key_id.isalnum():
            raise ConfigError(f"access key id {key_id!r} must be letters and digits only")
        out[key_id] = secret
    return out


def load_settings(env: Mapping[str, str], **overrides: object) -> Settings:
    """Build settings from ``LAMINA_*`` variables, then explicit overrides (CLI flags)."""
    settings = Settings(data_dir=default_data_dir(env))
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(_ENV_PREFIX + f.name.upper())
        if raw is None:
            continue
        if f.name == "interpreters":
            values[f.name] = parse_interpreters(raw)
        elif f.name == "access_keys":
            values[f.name] = parse_access_keys(raw)
        else:
            values[f.name] = _coerce(f.name, raw, f.type)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data_dir" in values:
        values["data_dir"] = Path(str(values["data_dir"])).expanduser()
    settings = replace(settings, **values)  # type: ignore[arg-type]
    if settings.isolation not in ("auto", "process", "none"):
        raise ConfigError(f"isolation must be auto, process or none, not {settings.isolation!r}")
    if settings.zygotes not in ("snapstart", "python", "off"):
        raise ConfigError(f"zygotes must be snapstart, python or off, not {settings.zygotes!r}")
    if not settings.concurrency_limit >= 1:
        raise ConfigError("concurrency_limit must be at least 1")
    return settings
