"""One ``lamina up``: template → spec → packages → what Lamina has → plan → apply → state.

The steps are the pure ones of :mod:`lamina.sam` glued to the I/O ones; ``--watch``
calls :func:`deploy` again with the packages of unchanged functions reused.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from lamina.client.boto import BotoClients
from lamina.client.http import Client
from lamina.client.http import ClientError as LaminaClientError
from lamina.config import Settings
from lamina.sam.apis import api_wants, local_api_urls
from lamina.sam.apply import Applier
from lamina.sam.builds.builder import build_function
from lamina.sam.builds.deps import Toolchain
from lamina.sam.builds.package import Package
from lamina.sam.errors import BuildError, DeployError
from lamina.sam.layers import publish_layers
from lamina.sam.log_groups import apply_log_groups
from lamina.sam.model import StackSpec
from lamina.sam.names import stack_name
from lamina.sam.observe import describe_error, observe_at
from lamina.sam.plan import plan
from lamina.sam.record import record_stack
from lamina.sam.result import UpResult
from lamina.sam.runtimes import interpreter_note
from lamina.sam.state import load_state, save_state, state_path
from lamina.sam.template import load_template
from lamina.sam.translate import translate

Progress = Callable[[str], None]


@dataclass
class Project:
    """What ``lamina up`` was asked to deploy, and where."""

    template: Path
    endpoint: str
    settings: Settings
    stack: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    routes_file: Path | None = None
    # Where the stack's state is kept (default: the project's .lamina/stacks, see
    # lamina.sam.state); the server keeps the state of stacks it deploys in its data dir.
    state_file: Path | None = None
    # Record the stack on the server afterwards (PUT /lamina/v1/stacks); the server's own
    # deployments (change sets) record it themselves.
    record: bool = True

    def state_at(self, stack: str) -> Path:
        return self.state_file or state_path(self.directory, stack, self.endpoint)

    @property
    def directory(self) -> Path:
        return self.template.parent

    @property
    def workdir(self) -> Path:
        """``.lamina`` next to the template: caches, logs, state, routes."""
        return self.directory / ".lamina"


def samconfig(directory: Path) -> dict[str, Any]:
    """``stack_name`` and ``parameter_overrides`` from ``samconfig.toml`` (default env), if any."""
    path = directory / "samconfig.toml"
    if not path.is_file():
        return {}
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    env = doc.get("default") or {}
    out: dict[str, Any] = {}
    for section in ("global", "deploy"):
        params = (env.get(section) or {}).get("parameters") or {}
        out.update({k: v for k, v in params.items() if k in ("stack_name", "parameter_overrides")})
    return out


def default_stack(project_dir: Path) -> str:
    return stack_name(str(samconfig(project_dir).get("stack_name") or project_dir.name))


def interpreters(endpoint: str, settings: Settings) -> dict[str, tuple[str, str]]:
    """runtime → (version, interpreter path), as the server runs them (empty if unknown)."""
    try:
        rows = Client(endpoint, timeout=30).call("GET", "/lamina/v1/runtimes")["runtimes"]
    except (LaminaClientError, KeyError, TypeError):
        return {}
    return {r["runtime"]: (r.get("version") or "", r.get("interpreter") or "") for r in rows}


def toolchain(project: Project) -> Toolchain:
    return Toolchain(
        cache=project.workdir / "cache",
        logs=project.workdir / "logs",
        interpreters=interpreters(project.endpoint, project.settings),
    )


def build_all(
    spec: StackSpec,
    tools: Toolchain,
    reuse: dict[str, Package],
    progress: Progress,
) -> tuple[dict[str, Package], dict[str, str]]:
    packages: dict[str, Package] = {}
    errors: dict[str, str] = {}
    for lid, fn in spec.functions.items():
        if lid in reuse:
            packages[lid] = reuse[lid]
            continue
        try:
            packages[lid] = build_function(fn, tools)
        except (BuildError, OSError) as exc:
            errors[lid] = str(exc)
            progress(f"build failed: {lid}: {exc}")
    return packages, errors


def deploy(
    project: Project,
    *,
    clients: BotoClients | None = None,
    tools: Toolchain | None = None,
    reuse: dict[str, Package] | None = None,
    progress: Progress = lambda line: None,
) -> UpResult:
    """Deploy the project's template once; never raises for one resource's failure."""
    settings = project.settings
    clients = clients or BotoClients.for_settings(project.endpoint, settings)
    tools = tools or toolchain(project)
    template = load_template(project.template)
    stack = project.stack or default_stack(project.directory)
    if project.record:
        refuse_managed(clients, stack)  # before anything is built or published
    host = urlsplit(project.endpoint).netloc
    spec, translation = translate(
        template,
        stack=stack,
        region=settings.region,
        account=settings.account_id,
        endpoint_host=host,
        overrides=project.overrides,
    )
    for fn in spec.functions.values():
        note = interpreter_note(fn.runtime, tools.interpreters or {})
        if note:
            spec.warnings.append(f"{fn.logical_id}: {note}")
    packages, build_errors = build_all(spec, tools, reuse or {}, progress)
    try:
        layers = publish_layers(clients, spec, tools, progress)
    except (BotoCoreError, ClientError) as exc:
        raise DeployError(
            f"cannot publish layers to Lamina at {project.endpoint} ({describe_error(exc)}); "
            "is `lamina serve` running there?"
        ) from None
    translation.catalog.layer_arns.update(layers.arns)
    for lid, why in layers.function_errors.items():
        build_errors.setdefault(lid, why)
    # A function that did not build is left as it is on the server (not deleted, not changed).
    for lid in build_errors:
        spec.functions.pop(lid)
    path = project.state_at(stack)
    state = load_state(path, stack, project.endpoint)
    for lid in build_errors:
        state_name = state.functions.get(lid)
        if state_name:
            spec.warnings.append(
                f"{lid}: not updated (its build failed); {state_name} kept as it was"
            )
    kept_names = {state.functions[lid] for lid in build_errors if lid in state.functions}
    current = observe_at(project.endpoint, clients, spec, state, project.routes_file)
    for name in kept_names:
        current.functions.pop(name, None)  # so the plan does not delete it
    the_plan = plan(spec, {lid: p.sha256 for lid, p in packages.items()}, current, state)
    applier = Applier(clients, spec, packages, state, project.routes_file, progress)
    applied = applier.run(the_plan)
    applied.warnings += apply_log_groups(clients, spec.log_groups, progress)
    save_state(path, state)
    urls = {name: str(f.url["FunctionUrl"]) for name, f in current.functions.items() if f.url}
    urls.update(applied.urls)
    for fn in spec.functions.values():
        if fn.name in urls:
            translation.catalog.urls[fn.logical_id] = urls[fn.name]
    apis = {**(current.apis or {}), **applied.apis}
    apis = {api_id: apis[api_id] for api_id in api_wants(spec) if api_id in apis}
    bases = {api_id: _base_url(str(api.get("url", ""))) for api_id, api in apis.items()}
    outputs = local_api_urls(translation.outputs(), spec.region, bases)
    result = UpResult(
        spec, translation, packages, build_errors, the_plan, applied, outputs, urls, apis
    )
    # What the stack now holds, for CloudFormation's read API on the server.
    if project.record:
        unrecorded = record_stack(clients.lamina(), result, project.template)
        if unrecorded:
            applied.warnings.append(unrecorded)
    return result


def refuse_managed(clients: BotoClients, stack: str) -> None:
    """Raise DeployError when the server deploys ``stack`` itself (``sam deploy``'s change
    sets): its state is on the server, and two deployers would fight over its resources."""
    try:
        found = clients.lamina().call("GET", f"/lamina/v1/stacks/{stack}")
    except (LaminaClientError, OSError):
        return  # no such stack, or a server without the route: nothing to fight over
    if isinstance(found, dict) and found.get("Managed") is True:
        raise DeployError(
            f"stack {stack} is deployed by CloudFormation change sets on this server "
            "(sam deploy): deploy it with `sam deploy`, remove it with `sam delete`, "
            "or pass another --stack-name"
        )


def _base_url(url: str) -> str:
    """``http://127.0.0.1:40123/Prod`` → ``http://127.0.0.1:40123`` (the AWS URL's host part)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
