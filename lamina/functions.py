"""Functions, versions and aliases: control-plane writes, and the index the invoke path reads.

The invoke path never touches SQLite: every ``$LATEST``, every published version and every
alias is held in dicts loaded at start and updated by each write here, after the store has
committed it. Resolving an alias with weights is one dict lookup and one random draw.

A function's other settings — reserved concurrency, tags, URL configurations — are written
here too, so the API never reaches past :class:`Functions` into the store, and a
reservation reaches the scheduler's pool in the same call that stores it.
"""

from __future__ import annotations

import base64
import builtins
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping

from lamina.arns import function_arn
from lamina.config import Settings
from lamina.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    RequestTooLarge,
    ResourceConflict,
    ResourceNotFound,
)
from lamina.layers import Layers, check_total_size
from lamina.models import provisioned
from lamina.models.alias import (
    Alias,
    check_routing,
    validate_alias_description,
    validate_alias_name,
    validate_alias_version,
)
from lamina.models.function import LATEST, FunctionConfig, validate_config, validate_name
from lamina.models.function_url import FunctionUrlConfig
from lamina.models.provisioned import Allocation, ProvisionedConfig, Provisioning
from lamina.models.requests import CodeUpdate, CreateRequest
from lamina.store.code import CodeStore
from lamina.store.layers import LayerStore
from lamina.store.metadata import MetadataStore
from lamina.store.stamps import new_revision_id, now_lambda_timestamp

# The CreateFunction request carries the zip base64-encoded; Lambda caps the request.
MAX_CREATE_REQUEST_BYTES = 69_905_067

# Retire a function's environments (after an update or a delete): ``Scheduler.drain_function``.
Drain = Callable[[str], Awaitable[None]]
# Make a reservation take effect (None releases it): ``Pool.set_reserved``.
Reserve = Callable[[str, int | None], None]

# What makes two versions the same for PublishVersion (everything but the stamps).
_STAMPS = {"version": LATEST, "revision_id": "", "last_modified": "", "description": ""}


def _stale() -> PreconditionFailed:
    return PreconditionFailed(
        "The Revision Id provided does not match the latest Revision Id. Call the "
        "GetFunction/GetAlias API to retrieve the latest Revision Id"
    )


def _version_key(cfg: FunctionConfig) -> int:
    return -1 if cfg.version == LATEST else int(cfg.version)


class Functions:
    """Create, read, update and delete functions, versions and aliases; keep the index."""

    def __init__(
        self,
        settings: Settings,
        metadata: MetadataStore,
        code: CodeStore,
        drain: Drain,
        reserve: Reserve,
        draw: Callable[[], float] = random.random,
        layers: Layers | None = None,
    ) -> None:
        self.settings = settings
        self.metadata = metadata
        self.code = code
        self.layers = layers or Layers(
            LayerStore(settings.data_dir / "layers.db"),
            code,
            settings.region,
            settings.account_id,
        )
        self._drain = drain
        self._reserve = reserve
        self._draw = draw
        # Called with a function's name once it is deleted (event invoke configs go too).
        self.on_deleted: list[Callable[[str], None]] = []
        self._latest: dict[str, FunctionConfig] = {}
        self._versions: dict[tuple[str, str], FunctionConfig] = {}
        for cfg in metadata.all_functions():
            if cfg.version == LATEST:
                self._latest[cfg.name] = cfg
            else:
                self._versions[(cfg.name, cfg.version)] = cfg
        self._aliases: dict[tuple[str, str], Alias] = {
            (a.function, a.name): a for a in metadata.all_aliases()
        }
        for name in self._latest:
            reserved = metadata.get_reserved_concurrency(name)
            if reserved is not None:
                reserve(name, reserved)
        self._provisioned: dict[tuple[str, str], ProvisionedConfig] = {
            (p.function, p.qualifier): p for p in metadata.all_provisioned()
        }
        # Starts and stops the configurations' environments (the scheduler's Provisioner);
        # set by the server, None where nothing runs them (the configurations are kept).
        self.provisioning: Provisioning | None = None
        # Functions whose recursive loops run on (RecursiveLoop: Allow), read per counted
        # invoke (lamina.events.recursion).
        self._loops_allowed = metadata.loops_allowed()

    # -- reads (the invoke path) ------------------------------------------------------
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        """``$LATEST``, a published version, or the primary version of an alias."""
        if qualifier is None or qualifier == LATEST:
            cfg = self._latest.get(name)
            if cfg is None:
                raise ResourceNotFound(f"Function not found: {self._arn(name)}")
            return cfg
        cfg = self._versions.get((name, qualifier))
        if cfg is not None:
            return cfg
        alias = self._aliases.get((name, qualifier))
        if alias is not None:
            return self.get(name, alias.version)
        if name not in self._latest:
            raise ResourceNotFound(f"Function not found: {self._arn(name)}")
        raise ResourceNotFound(f"Function not found: {self._arn(name)}:{qualifier}")

    def resolve(self, name: str, qualifier: str | None) -> FunctionConfig:
        """The configuration an invoke runs: an alias with weights draws its version."""
        if qualifier is not None and qualifier != LATEST:
            alias = self._aliases.get((name, qualifier))
            if alias is not None and alias.weights:
                return self.get(name, alias.pick(self._draw()))
        return self.get(name, qualifier)

    def versions(self, name: str) -> list[FunctionConfig]:
        """``$LATEST`` then the published versions in number order."""
        latest = self.get(name)
        published = [c for (n, _), c in self._versions.items() if n == name]
        return [latest, *sorted(published, key=_version_key)]

    def all_versions(self) -> list[FunctionConfig]:
        """Every function's ``$LATEST`` and versions, by name then version number."""
        return sorted(
            [*self._latest.values(), *self._versions.values()],
            key=lambda c: (c.name, _version_key(c)),
        )

    def alias(self, name: str, alias: str) -> Alias:
        self.get(name)
        found = self._aliases.get((name, alias))
        if found is None:
            raise ResourceNotFound(f"Alias not found: {self._arn(name)}:{alias}")
        return found

    def aliases(self, name: str, version: str | None = None) -> list[Alias]:
        """The function's aliases by name; with ``version``, those that route to it."""
        self.get(name)
        found = [a for (n, _), a in self._aliases.items() if n == name]
        if version is not None:
            found = [a for a in found if version in a.versions()]
        return sorted(found, key=lambda a: a.name)

    def total_code_size(self) -> int:
        """The code storage of every version, as Lambda's AccountUsage counts it."""
        return sum(c.code_size for c in self._latest.values()) + sum(
            c.code_size for c in self._versions.values()
        )

    def collect_code(self) -> builtins.list[str]:
        """Delete the stored packages nothing uses any more (a deleted function's, an updated
        one's old code); run at start, before any environment exists. Kept: every function
        version's code and layers (a deleted layer version a function still names included)
        and every stored layer version."""
        versions = self.all_versions()
        keep = {cfg.code_sha256 for cfg in versions}
        keep |= {layer.code_sha256 for cfg in versions for layer in cfg.layers}
        keep |= self.layers.packages()
        return self.code.gc(keep, grace_s=0)

    def names(self) -> list[str]:
        return sorted(self._latest)

    def list(self, marker: str | None, max_items: int) -> tuple[list[FunctionConfig], str | None]:
        return self.metadata.list_functions(marker, max_items)

    # -- writes: functions ------------------------------------------------------------
    def create(self, req: CreateRequest, package: bytes) -> FunctionConfig:
        """Store the package and the function; with ``Publish``, answer version 1."""
        name = validate_name(req.config.name)
        if name in self._latest:
            raise ResourceConflict(f"Function already exist: {name}")
        validate_config(req.config)
        layers = self.layers.resolve(req.layers) if req.layers else ()
        stored = self.code.put_zip(package)
        cfg = req.config.with_changes(
            code_sha256=stored.sha256_hex,
            code_size=stored.size,
            revision_id=new_revision_id(),
            last_modified=now_lambda_timestamp(),
            layers=layers,
        )
        self._check_size(cfg)
        self.metadata.create_function(cfg)
        self._latest[name] = cfg
        if req.tags:
            self.metadata.set_tags(name, req.tags)
        if req.publish:
            return self.publish(name)
        return cfg

    async def update_code(self, name: str, update: CodeUpdate, package: bytes) -> FunctionConfig:
        cfg = self.get(name)
        self._check_revision(cfg, update.revision_id)
        stored = self.code.put_zip(package, operation="UpdateFunctionCode")
        new = cfg.with_changes(
            code_sha256=stored.sha256_hex,
            code_size=stored.size,
            architecture=update.architecture or cfg.architecture,
            revision_id=new_revision_id(),
            last_modified=now_lambda_timestamp(),
        )
        self._check_size(new)
        if update.dry_run:
            return new  # checked, not applied
        await self._replace(new)
        if update.publish:
            return self.publish(name)
        return new

    async def update_configuration(
        self, name: str, new: FunctionConfig, revision_id: str | None
    ) -> FunctionConfig:
        """Apply ``new`` (parsed from the request against the current ``$LATEST``)."""
        cfg = self.get(name)
        self._check_revision(cfg, revision_id)
        validate_config(new)
        if new.layers != cfg.layers:
            self._check_size(new)
        new = new.with_changes(revision_id=new_revision_id(), last_modified=now_lambda_timestamp())
        await self._replace(new)
        return new

    def publish(
        self,
        name: str,
        description: str | None = None,
        code_sha256: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionConfig:
        """Snapshot ``$LATEST`` as the next version; unchanged since the last one → that one."""
        cfg = self.get(name)
        self._check_revision(cfg, revision_id)
        current_b64 = base64.b64encode(bytes.fromhex(cfg.code_sha256)).decode()
        if code_sha256 is not None and code_sha256 not in (current_b64, cfg.code_sha256):
            raise InvalidParameterValue(
                f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
                f"({current_b64}). Please try again with the CodeSHA256 in $LATEST."
            )
        published = self.versions(name)[1:]
        if published and _same_snapshot(published[-1], cfg):
            return published[-1]
        snapshot = cfg.with_changes(
            description=cfg.description if description is None else description,
            revision_id=new_revision_id(),
            last_modified=now_lambda_timestamp(),
        )
        version = self.metadata.publish_version(snapshot)
        self._versions[(name, version.version)] = version
        return version

    async def delete(self, name: str, qualifier: str | None = None) -> None:
        """Delete the function with everything it owns, or one published version."""
        self.get(name)
        if qualifier is None:
            self.metadata.delete_function(name)
            self._latest.pop(name, None)
            self._versions = {k: v for k, v in self._versions.items() if k[0] != name}
            self._aliases = {k: v for k, v in self._aliases.items() if k[0] != name}
            self._reserve(name, None)
            self._loops_allowed.discard(name)
            for key in [k for k in self._provisioned if k[0] == name]:
                self._unprovision(*key)
            for hook in self.on_deleted:
                hook(name)
        else:
            if qualifier != LATEST and not qualifier.isdigit():
                raise InvalidParameterValue(
                    f"Qualifier '{qualifier}' must be a version number: delete an alias with "
                    "DeleteAlias"
                )
            self.get(name, qualifier)
            self.metadata.delete_function(name, qualifier)
            self._versions.pop((name, qualifier), None)
            self._unprovision(name, qualifier)
        await self._drain(name)

    # -- writes: aliases ----------------------------------------------------------------
    def create_alias(
        self,
        name: str,
        alias: object,
        version: object,
        description: object,
        weights: dict[str, float],
    ) -> Alias:
        self.get(name)
        new = Alias(
            function=name,
            name=validate_alias_name(alias),
            version=validate_alias_version(version),
            description=validate_alias_description(description),
            weights=weights,
            revision_id=new_revision_id(),
        )
        check_routing(new.version, new.weights)
        self.metadata.create_alias(new)
        self._aliases[(name, new.name)] = new
        return new

    def update_alias(
        self,
        name: str,
        alias: str,
        version: object | None,
        description: object | None,
        weights: dict[str, float] | None,
        revision_id: str | None,
    ) -> Alias:
        current = self.alias(name, alias)
        if revision_id is not None and revision_id != current.revision_id:
            raise _stale()
        new = Alias(
            function=name,
            name=alias,
            version=current.version if version is None else validate_alias_version(version),
            description=(
                current.description
                if description is None
                else validate_alias_description(description)
            ),
            weights=current.weights if weights is None else weights,
            revision_id=new_revision_id(),
        )
        check_routing(new.version, new.weights)
        self.metadata.update_alias(new, current.revision_id)
        self._aliases[(name, alias)] = new
        kept = self._provisioned.get((name, alias))
        if kept is not None and new.version != current.version:
            # Lambda moves the alias's provisioned concurrency to its new version.
            self._provision(kept)
        return new

    def delete_alias(self, name: str, alias: str) -> None:
        self.alias(name, alias)
        self.metadata.delete_alias(name, alias)
        self._aliases.pop((name, alias), None)
        self._unprovision(name, alias)

    # -- a function's settings: reserved concurrency, tags, URL configurations ----------
    def recursive_loop(self, name: str) -> str:
        """``Allow`` or ``Terminate``: what Lambda does when ``name`` loops."""
        self.get(name)
        return "Allow" if name in self._loops_allowed else "Terminate"

    def set_recursive_loop(self, name: str, value: str) -> None:
        self.metadata.set_recursive_loop(name, value)
        if value == "Allow":
            self._loops_allowed.add(name)
        else:
            self._loops_allowed.discard(name)

    def loop_allowed(self, name: str) -> bool:
        """Whether ``name``'s recursive loops are let run (the invoke path: a set lookup)."""
        return name in self._loops_allowed

    def reserved_concurrency(self, name: str) -> int | None:
        self.get(name)
        return self.metadata.get_reserved_concurrency(name)

    def set_reserved_concurrency(self, name: str, value: int | None) -> None:
        """Reserve ``value`` environments for ``name`` (None releases them), stored and in
        effect at once; the account must keep its unreserved minimum."""
        self.get(name)
        if value is not None:
            limit = self.settings.concurrency_limit
            minimum = min(self.settings.unreserved_minimum, limit // 10)
            if self.metadata.sum_reserved_concurrency(exclude=name) + value > limit - minimum:
                raise InvalidParameterValue(
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
                )
            provisioned.check_reserved_covers(
                value, sum(p.requested for (f, _), p in self._provisioned.items() if f == name)
            )
        self.metadata.set_reserved_concurrency(name, value)
        self._reserve(name, value)

    # -- provisioned concurrency (lamina.models.provisioned) ------------------------------
    def provisioned_version(self, name: str, qualifier: str | None) -> FunctionConfig:
        """The published version a configuration on ``qualifier`` serves (an alias: its
        primary version); never ``$LATEST``."""
        qualifier = provisioned.check_qualifier(qualifier)
        cfg = self.get(name, qualifier)
        if cfg.version == LATEST:
            raise provisioned.unpublished()
        return cfg

    def provisionable_version(self, name: str, qualifier: str | None) -> FunctionConfig:
        """:meth:`provisioned_version`, refused when SnapStart is on for it."""
        cfg = self.provisioned_version(name, qualifier)
        provisioned.check_no_snap_start(cfg.snap_start)
        return cfg

    def put_provisioned(
        self, name: str, qualifier: str | None, requested: object
    ) -> ProvisionedConfig:
        """Store a configuration and start its environments (Lambda's rules first)."""
        n = provisioned.check_requested(requested)
        cfg = self.provisionable_version(name, qualifier)
        if self.provisioning is None:
            raise provisioned.not_provisioned_here()
        assert qualifier is not None  # provisioned_version refused None
        mine = {q: p for (f, q), p in self._provisioned.items() if f == name}
        provisioned.check_not_both(
            name, qualifier, cfg.version, {q: self.get(name, q).version for q in mine}
        )
        others = sum(p.requested for q, p in mine.items() if q != qualifier)
        limit = self.settings.concurrency_limit
        reserved = self.metadata.get_reserved_concurrency(name)
        taken = sum(
            p.requested
            for (f, _), p in self._provisioned.items()
            if f != name and self.metadata.get_reserved_concurrency(f) is None
        )
        provisioned.check_room(
            n,
            others,
            reserved=reserved,
            unreserved=limit - self.metadata.sum_reserved_concurrency() - taken,
            unreserved_minimum=min(self.settings.unreserved_minimum, limit // 10),
        )
        kept = ProvisionedConfig(name, qualifier, n, now_lambda_timestamp())
        self.metadata.put_provisioned(kept)
        self._provisioned[(name, qualifier)] = kept
        self._provision(kept)
        return kept

    def provisioned(self, name: str, qualifier: str | None) -> ProvisionedConfig:
        self.provisioned_version(name, qualifier)
        kept = self._provisioned.get((name, qualifier or ""))
        if kept is None:
            raise provisioned.not_found()
        return kept

    def provisioned_configs(self, name: str | None = None) -> builtins.list[ProvisionedConfig]:
        """``name``'s configurations (every function's for None), by qualifier."""
        if name is not None:
            self.get(name)
        return [p for k, p in sorted(self._provisioned.items()) if name is None or k[0] == name]

    def delete_provisioned(self, name: str, qualifier: str | None) -> None:
        self.provisioned(name, qualifier)
        assert qualifier is not None
        self.metadata.delete_provisioned(name, qualifier)
        self._unprovision(name, qualifier)

    def allocation(self, kept: ProvisionedConfig) -> Allocation:
        """How ``kept``'s environments stand (none where nothing runs them)."""
        if self.provisioning is None:
            return Allocation()
        return self.provisioning.allocation(kept.function, kept.qualifier)

    def start_provisioned(self) -> None:
        """Start every stored configuration's environments (at server start)."""
        for kept in self._provisioned.values():
            self._provision(kept)

    def _provision(self, kept: ProvisionedConfig) -> None:
        if self.provisioning is not None:
            cfg = self.get(kept.function, kept.qualifier)
            self.provisioning.apply(kept.function, kept.qualifier, cfg, kept.requested)

    def _unprovision(self, name: str, qualifier: str) -> None:
        """The configuration on ``name:qualifier`` is gone (deleted, or its owner was)."""
        gone = self._provisioned.pop((name, qualifier), None)
        if gone is not None and self.provisioning is not None:
            self.provisioning.apply(name, qualifier, None, 0)

    def tags(self, name: str) -> dict[str, str]:
        self.get(name)
        return self.metadata.get_tags(name)

    def tag(self, name: str, tags: Mapping[str, str]) -> None:
        self.get(name)
        self.metadata.set_tags(name, tags)

    def untag(self, name: str, keys: Iterable[str]) -> None:
        self.get(name)
        self.metadata.remove_tags(name, keys)

    def url_config(self, name: str, qualifier: str | None) -> FunctionUrlConfig:
        return self.metadata.get_url_config(name, qualifier)

    def url_configs(self, name: str) -> builtins.list[FunctionUrlConfig]:
        return self.metadata.list_url_configs(name)

    def create_url_config(self, cfg: FunctionUrlConfig) -> None:
        self.metadata.create_url_config(cfg)

    def update_url_config(self, cfg: FunctionUrlConfig) -> None:
        self.metadata.update_url_config(cfg)

    def delete_url_config(self, name: str, qualifier: str | None) -> None:
        self.metadata.delete_url_config(name, qualifier)

    # -- internals ----------------------------------------------------------------------
    async def _replace(self, new: FunctionConfig) -> None:
        self.metadata.put_function(new)
        self._latest[new.name] = new
        # Environments of the old code or configuration must never serve again.
        await self._drain(new.name)

    def _check_size(self, cfg: FunctionConfig) -> None:
        """The unzipped code and its layers within Lambda's 250 MB (only layers add to it)."""
        if cfg.layers:
            check_total_size(self.code.unzipped_size(cfg.code_sha256), cfg.layers)

    @staticmethod
    def _check_revision(cfg: FunctionConfig, revision_id: str | None) -> None:
        if revision_id is not None and revision_id != cfg.revision_id:
            raise _stale()

    def _arn(self, name: str) -> str:
        return function_arn(self.settings.region, self.settings.account_id, name)


def _same_snapshot(a: FunctionConfig, b: FunctionConfig) -> bool:
    """Same code and configuration, whatever the version, stamps and description."""
    return a.with_changes(**_STAMPS) == b.with_changes(**_STAMPS)


def check_create_size(length: int) -> None:
    if length > MAX_CREATE_REQUEST_BYTES:
        raise RequestTooLarge(
            f"Request must be smaller than {MAX_CREATE_REQUEST_BYTES} bytes for the "
            "CreateFunction operation"
        )
