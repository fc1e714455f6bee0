"""Where change sets are computed and executed, and managed stacks deleted: one worker thread.

The work itself (reading S3, ``lamina up``'s translate → plan → apply against the server's
own endpoint) is a :class:`Deployer`'s, which the server is given (``lamina serve`` passes
:mod:`lamina.sam.serverside`'s: the ``sam`` package sits above the server). This module owns
the order of things: statuses, events, the stack's files in the data directory, and what a
restart does to work that was under way (it fails, visibly, never stays ``IN_PROGRESS``).

One thread runs everything in turn: a deployment changes the server's functions, routes and
roles, and two at once (of the same stack, or two stacks sharing a bucket's notifications)
would race; the event loop is never blocked, since the thread reaches the server over HTTP.

Per stack, ``<data_dir>/cloudformation/<stack>/`` holds ``state.json`` (what the deployment
made, :mod:`lamina.sam.state`), ``deployed.json`` (the template as sent, its parameter values
and tags: the next change set's "before") and ``changesets/<uuid>/`` (a change set's template
with its artifacts downloaded, until it is executed or deleted).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from lamina.errors import LaminaError
from lamina.services.cloudformation import changesets as cs_model
from lamina.services.cloudformation.artifacts import localise
from lamina.services.cloudformation.changesets import ChangeSet
from lamina.services.cloudformation.model import (
    PROCESSED_TYPES,
    StackValidationError,
    parse_record,
)
from lamina.services.cloudformation.store import StackStore

log = logging.getLogger(__name__)
T = TypeVar("T")
INTERRUPTED = "interrupted by a restart of the Lamina server"


class DeploymentFailed(LaminaError):
    """Raised by a :class:`Deployer` for a template or deployment that cannot go on."""


class Deployer(Protocol):
    """The blocking steps, run on the engine's thread (raise DeploymentFailed with why)."""

    def read_object(self, bucket: str, key: str, limit: int) -> bytes:
        """One object of Lamina's S3 (refused above ``limit`` bytes)."""
        ...

    def parse(self, text: str) -> dict[str, Any]:
        """A template's text (YAML with short-form tags, or JSON) as one mapping."""
        ...

    def stage(self, workdir: Path, stack: str, parameters: dict[str, str]) -> None:
        """Check ``workdir/template.json`` (its artifacts downloaded next to it) translates."""
        ...

    def deploy(
        self, workdir: Path, stack: str, parameters: dict[str, str], state: Path
    ) -> dict[str, Any]:
        """Deploy ``workdir/template.json``; the stack record (model.parse_record's JSON),
        with ``Failure`` when a resource failed."""
        ...

    def remove(self, stack: str, state: Path) -> str:
        """Delete what the stack made; why a part failed, or ""."""
        ...

    def download(self, bucket: str, key: str, path: Path) -> None:
        """Copy an artifact out of Lamina's S3."""
        ...


DeployerFactory = Callable[[Callable[[], str]], Deployer]


class StackEngine:
    def __init__(
        self,
        store: StackStore,
        directory: Path,
        deployer: Deployer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.directory = directory
        self.deployer = deployer
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cloudformation")
        self.recover()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- files ---------------------------------------------------------------------------
    def stack_dir(self, name: str) -> Path:
        return self.directory / name

    def state_file(self, name: str) -> Path:
        return self.stack_dir(name) / "state.json"

    def workdir(self, cs: ChangeSet) -> Path:
        return self.stack_dir(cs.stack_name) / "changesets" / cs.id.rsplit("/", 1)[-1]

    def deployed(self, name: str) -> dict[str, Any] | None:
        """The template text, parameter values and tags of the stack's last execution."""
        try:
            doc = json.loads((self.stack_dir(name) / "deployed.json").read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def _write_deployed(self, cs: ChangeSet, parameters: dict[str, str]) -> None:
        path = self.stack_dir(cs.stack_name) / "deployed.json"
        doc = {"Template": cs.template, "Parameters": parameters, "Tags": cs.tags}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(path)

    # -- restart ---------------------------------------------------------------------------
    def recover(self) -> None:
        """Work a restart interrupted fails, visibly (the caller deploys again)."""
        now = self.clock()
        for cs in self.store.all_change_sets():
            if cs.status == cs_model.CREATE_PENDING:
                self.store.put_change_set(cs_model.failed(cs, INTERRUPTED))
            elif cs.execution_status == cs_model.EXECUTE_IN_PROGRESS:
                self.store.put_change_set(
                    replace(cs, execution_status=cs_model.EXECUTE_FAILED, reason=INTERRUPTED)
                )
        for stack in self.store.stacks(deleted=False):
            status = stack.status
            if status in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS"):
                failed = status.replace("IN_PROGRESS", "FAILED")
                self.store.set_status(stack.record.stack_id, failed, now, INTERRUPTED)

    # -- the three jobs ------------------------------------------------------------------
    def submit(self, job: Callable[[], T]) -> Future[T]:
        return self._pool.submit(job)

    def forget(self, cs: ChangeSet) -> None:
        """A deleted change set's staged files go."""
        shutil.rmtree(self.workdir(cs), ignore_errors=True)

    def prepare(self, cs: ChangeSet) -> None:
        """Compute the change set: fetch, stage, compare (CREATE_COMPLETE, or FAILED)."""
        try:
            self.store.put_change_set(self._prepared(cs))
        except Exception as exc:  # whatever went wrong is the change set's reason
            self.store.put_change_set(cs_model.failed(cs, _reason(exc)))
            self.forget(cs)

    def _prepared(self, cs: ChangeSet) -> ChangeSet:
        text = cs.template
        if not text:
            bucket, key = cs_model.url_object(cs.template_url)
            raw = self.deployer.read_object(bucket, key, cs_model.MAX_URL_TEMPLATE_BYTES)
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                raise DeploymentFailed("Template format error: the template is not UTF-8") from None
        template = self.deployer.parse(text)
        if not isinstance(template.get("Resources"), dict) or not template["Resources"]:
            raise DeploymentFailed(
                "Template format error: At least one Resources member must be defined."
            )
        localised, wanted = localise(template)
        missing = cs_model.missing_capability(template, cs.capabilities)
        if missing:
            raise DeploymentFailed(missing)
        before = self.deployed(cs.stack_name) if cs.type == "UPDATE" else None
        old_params: dict[str, str] = dict((before or {}).get("Parameters") or {})
        parameters = _defaults(template) | dict(cs.parameters)
        for key in cs.previous:
            if key not in old_params:
                raise StackValidationError(f"Parameter {key} has no previous value to use")
            parameters[key] = old_params[key]
        old_template = self.deployer.parse(before["Template"]) if before else None
        params_changed = before is not None and old_params != parameters
        tags_changed = before is not None and (before.get("Tags") or {}) != cs.tags
        if cs.type == "UPDATE" and cs_model.no_changes(
            old_template, template, params_changed, tags_changed
        ):
            # What was deployed, again: nothing to download or check.
            return cs_model.failed(replace(cs, template=text), cs_model.NO_CHANGES)
        workdir = self.workdir(cs)
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        for artifact in dict.fromkeys(wanted):
            self.deployer.download(artifact.bucket, artifact.key, workdir / artifact.local)
        (workdir / "template.json").write_text(json.dumps(localised))
        self.deployer.stage(workdir, cs.stack_name, parameters)
        stack = self.store.find(cs.stack_id)
        physical = (
            {r.logical_id: r.physical_id for r in self.store.resources(stack)} if stack else {}
        )
        found = cs_model.changes(old_template, template, params_changed, physical, PROCESSED_TYPES)
        return replace(
            cs,
            template=text,
            parameters=parameters,
            previous=(),
            status=cs_model.CREATE_COMPLETE,
            execution_status=cs_model.AVAILABLE,
            changes=tuple(found),
            no_echo=_no_echo(template),
        )

    def execute(self, cs: ChangeSet) -> None:
        """Deploy an AVAILABLE change set (the stack is already ``*_IN_PROGRESS``)."""
        name, stack_id = cs.stack_name, cs.stack_id
        failure = ""
        try:
            doc = self.deployer.deploy(self.workdir(cs), name, cs.parameters, self.state_file(name))
            failure = str(doc.pop("Failure", "") or "")
            doc.update(
                TemplateBody=cs.template,
                Tags=cs.tags,
                StackId=stack_id,
                Capabilities=list(cs.capabilities),
            )
            rec = parse_record(name, doc)
        except Exception as exc:  # the stack must not stay IN_PROGRESS
            status = "CREATE_FAILED" if cs.type == "CREATE" else "UPDATE_FAILED"
            self.store.set_status(stack_id, status, self.clock(), _reason(exc))
            self.store.put_change_set(
                replace(cs, execution_status=cs_model.EXECUTE_FAILED, reason=_reason(exc))
            )
            return
        self.store.record(rec, self.clock(), managed=True, started=True, failure=failure)
        self._write_deployed(cs, cs.parameters)
        # Executed: the stack's change sets are spent (CloudFormation deletes them all).
        self.store.delete_change_sets(stack_id)
        shutil.rmtree(self.stack_dir(name) / "changesets", ignore_errors=True)

    def delete(self, stack_id: str, name: str) -> None:
        """Remove what the stack made, then DELETE_COMPLETE (or DELETE_FAILED, kept)."""
        try:
            why = self.deployer.remove(name, self.state_file(name))
        except Exception as exc:  # the stack must not stay IN_PROGRESS
            why = _reason(exc)
        if why:
            self.store.set_status(stack_id, "DELETE_FAILED", self.clock(), why)
            return
        self.store.mark_deleted(stack_id, self.clock())
        shutil.rmtree(self.stack_dir(name), ignore_errors=True)


def _reason(exc: Exception) -> str:
    """What a failed job says: a deployment's own words, or the unexpected error's."""
    if isinstance(exc, DeploymentFailed | StackValidationError):
        return str(exc)
    if not isinstance(exc, OSError):
        log.exception("cloudformation job failed")
    return f"{type(exc).__name__}: {exc}"


def _no_echo(template: dict[str, Any]) -> tuple[str, ...]:
    declared = template.get("Parameters")
    return tuple(
        str(key)
        for key, spec in (declared if isinstance(declared, dict) else {}).items()
        if isinstance(spec, dict) and str(spec.get("NoEcho", "")).lower() == "true"
    )


def _defaults(template: dict[str, Any]) -> dict[str, str]:
    """The template's parameter defaults (the values a deployment that names none uses)."""
    declared = template.get("Parameters")
    out: dict[str, str] = {}
    for key, spec in (declared if isinstance(declared, dict) else {}).items():
        if isinstance(spec, dict) and "Default" in spec:
            value = spec["Default"]
            items = value if isinstance(value, list) else [value]
            out[str(key)] = ",".join(
                ("true" if v else "false") if isinstance(v, bool) else str(v) for v in items
            )
    return out
