"""Starting runtimes: a function's code and command, then a process in the sandbox.

The :class:`Launcher` unpacks code once per version (off the event loop), checks the entry
point, resolves the runtime's command and builds the :mod:`cold start spec
<lamina.scheduler.spec>`; :meth:`Launcher.spawn` starts the runtime and :func:`watch`
follows its output and its exit (also for environments forked from a zygote).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from lamina.config import Settings
from lamina.errors import InvalidRuntime, SandboxError
from lamina.models.function import FunctionConfig
from lamina.models.invocation import FunctionError
from lamina.runtimes.registry import RuntimeRegistry, check_entrypoint, runtime_dir
from lamina.runtimes.version import RuntimeVersion, bootstrap_digest, runtime_version
from lamina.sandbox import EnvironmentProcess, Sandbox, SandboxSpec
from lamina.sandbox.netns import LOOPBACK, EnvNetwork, NetnsPool, ServeApi
from lamina.scheduler import error_bodies
from lamina.scheduler.environment import Environment
from lamina.scheduler.spec import Host, LaunchPlan, cold_start_spec, sandbox_id
from lamina.xray.daemon import DAEMON_PORT, HOST_OWNER, XrayDaemon

ExitHook = Callable[[Environment, "asyncio.Future[int]"], None]

LAUNCHER = "launch_extensions.sh"
# Where external extensions are in the function's merged layers (/opt/extensions).
EXTENSIONS_DIR = "extensions"


def external_extensions(opt_dir: Path) -> list[str]:
    """The executables under ``extensions/`` of merged layers, by name, relative to them."""
    folder = opt_dir / EXTENSIONS_DIR
    if not folder.is_dir():
        return []
    return [
        f"{EXTENSIONS_DIR}/{p.name}"
        for p in sorted(folder.iterdir())
        if p.is_file() and os.access(p, os.X_OK)
    ]


class Launcher:
    """Prepares and starts the runtimes of one server's environments."""

    def __init__(
        self,
        settings: Settings,
        sandbox: Sandbox,
        runtimes: RuntimeRegistry,
        unpack: Callable[[str], Path],
    ) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self.runtimes = runtimes
        self._unpack = unpack
        self._unpacked: dict[str, Path] = {}
        self._runtime_dir = runtime_dir()
        # Where functions reach Lamina's API (AWS_ENDPOINT_URL); set once the port is bound.
        self.api_endpoint = ""
        # The cluster node this launcher starts environments on ("" on one machine): its
        # environments' log streams name it (lamina.logs.lines.log_stream).
        self.node = ""
        # boto3 for Python functions (see lamina.runtimes.sdk); None: not provided.
        self.python_sdk: Path | None = None
        # The role credentials each function's environments get; set by the composition
        # root (lamina.services.iam issues them). Until then environments get none.
        self.credentials: Callable[[FunctionConfig], tuple[str, str, str]] = _no_credentials
        # Merges a function's layers (by digest, in order) into one tree for /opt; set by
        # the composition root (lamina.store.optdir). Until then, layers cannot start.
        self.merge_layers: Callable[[tuple[str, ...]], Path] | None = None
        self._opt_dirs: dict[tuple[str, ...], Path] = {}
        self._versions: dict[str, RuntimeVersion] = {}
        # Each environment's own network namespace (the process tier), or None.
        self.network: NetnsPool | None = getattr(sandbox, "network", None)
        # The X-Ray daemon functions with active tracing send segments to (lamina.xray);
        # set by the composition root once its shared socket is bound. None: no address.
        self.xray: XrayDaemon | None = None

    def serve_api_inside(self, api_port: int, serve_api: ServeApi) -> None:
        """Lamina's API is bound on ``api_port``: serve it inside every environment's network
        namespace too (at ``127.0.0.1:api_port``), as ``AWS_ENDPOINT_URL`` says."""
        if self.network is not None:
            self.network.start(api_port, serve_api)

    def runtime_version(self, runtime: str) -> RuntimeVersion:
        """What ``INIT_START`` names as ``runtime``'s version (:mod:`lamina.runtimes.version`):
        worked out once per runtime per server (it reads the bootstrap's files), then cached.
        A runtime that cannot run here gets the version of no interpreter (its INIT fails)."""
        version = self._versions.get(runtime)
        if version is None:
            try:
                cmd = self.runtimes.resolve(runtime, "/var/runtime")
                interpreter, interpreter_version = cmd.interpreter, cmd.interpreter_version
            except InvalidRuntime:
                interpreter, interpreter_version = "", ""
            digest = bootstrap_digest(runtime, self._runtime_dir)
            version = runtime_version(
                runtime, interpreter, interpreter_version, digest, self.settings.region
            )
            self._versions[runtime] = version
        return version

    def host(self, namespaced: bool = False) -> Host:
        """What environments get; ``namespaced``: one in its own network namespace, which
        reaches Lamina's API on its own loopback."""
        port = self.network.api_port if self.network is not None else None
        return Host(
            region=self.settings.region,
            credentials=self.credentials,
            api_endpoint=f"http://{LOOPBACK}:{port}" if namespaced and port else self.api_endpoint,
            runtime_dir=self._runtime_dir,
            python_sdk=self.python_sdk,
            init_cpu_boost=self.settings.init_cpu_boost,
            xray_daemon=self._xray_address(namespaced),
        )

    def _xray_address(self, namespaced: bool) -> str:
        if self.xray is None:
            return ""
        if namespaced:
            return f"{LOOPBACK}:{DAEMON_PORT}"  # the environment's own socket (attach_xray)
        return self.xray.host_address

    async def attach_xray(
        self, env: Environment, net: EnvNetwork | None, also: tuple[int, ...] = ()
    ) -> None:
        """An environment of a function with active tracing: its daemon socket (inside
        its namespace, when it has one), and the hook that tells the daemon each trace
        it is handed (``also``: other sockets it may send on, its zygote's)."""
        daemon = self.xray
        if daemon is None or not env.cfg.tracing_active:
            return
        owner = HOST_OWNER
        if net is not None and self.network is not None:
            owner = await self.serve_xray_in(net)
        env.xray = functools.partial(
            daemon.expect, env.cfg.name, (owner, *also), float(env.cfg.timeout_s)
        )

    async def serve_xray_in(self, net: EnvNetwork) -> int:
        """A daemon socket at ``127.0.0.1:2000`` inside ``net``, closed with it; its owner id."""
        assert self.xray is not None and self.network is not None
        daemon = self.xray
        sock = await self.network.udp_in(net, DAEMON_PORT)
        try:
            owner, transport = await daemon.serve(sock)
        except BaseException:
            sock.close()
            raise
        net.adopt_transport(transport, functools.partial(daemon.forget, owner))
        return owner

    async def _code_dir(self, cfg: FunctionConfig) -> Path:
        code_dir = self._unpacked.get(cfg.code_sha256)
        if code_dir is None:
            # Unpacking happens once per code version; keep it off the event loop.
            code_dir = await asyncio.to_thread(self._unpack, cfg.code_sha256)
            self._unpacked[cfg.code_sha256] = code_dir
        return code_dir

    async def has_extensions(self, cfg: FunctionConfig) -> bool:
        """Whether ``cfg`` starts through the extension launcher (external extensions in
        its layers or an exec wrapper): such environments are not restored from a zygote,
        which would start neither."""
        if cfg.environment.get("AWS_LAMBDA_EXEC_WRAPPER"):
            return True
        if not cfg.layers:
            return False
        opt_dir, _ = await self._opt(cfg)
        return opt_dir is not None and bool(external_extensions(opt_dir))

    async def plan(self, cfg: FunctionConfig) -> LaunchPlan | FunctionError:
        """The code and command of ``cfg``'s runtime, or the INIT error Lambda reports when
        there is none (a custom runtime without a usable ``bootstrap``, an unknown runtime)."""
        code_dir = await self._code_dir(cfg)
        opt_dir, opt_root = await self._opt(cfg)
        runtime_root = self.sandbox.runtime_root(self._runtime_dir)
        task_root = bootstrap_root = self.sandbox.task_root(code_dir)
        missing = check_entrypoint(cfg.runtime, code_dir)
        if missing is not None:
            # A custom runtime's bootstrap may come from a layer: /opt/bootstrap.
            if opt_dir is None or check_entrypoint(cfg.runtime, opt_dir) is not None:
                return error_bodies.invalid_entrypoint(missing)
            bootstrap_root = opt_root
        try:
            cmd = self.runtimes.resolve(cfg.runtime, runtime_root, bootstrap_root, cfg.memory_mb)
        except InvalidRuntime as exc:
            return error_bodies.invalid_runtime(exc.message)
        # External extensions come from layers: executables in /opt/extensions.
        extensions = tuple(
            f"{opt_root}/{name}" for name in (external_extensions(opt_dir) if opt_dir else [])
        )
        if extensions or cfg.environment.get("AWS_LAMBDA_EXEC_WRAPPER"):
            # Lamina's launcher starts the extensions, waits for their registration, and
            # execs the runtime (through the wrapper when there is one).
            argv = ("/bin/bash", f"{runtime_root}/{LAUNCHER}", *cmd.argv)
            cmd = dataclasses.replace(cmd, argv=argv)
        return LaunchPlan(code_dir, task_root, runtime_root, cmd, opt_dir, opt_root, extensions)

    async def _opt(self, cfg: FunctionConfig) -> tuple[Path | None, str]:
        """The merged layers of ``cfg`` (built once per ordered set) and where they are seen."""
        if not cfg.layers:
            return None, "/opt"
        shas = tuple(layer.code_sha256 for layer in cfg.layers)
        path = self._opt_dirs.get(shas)
        if path is None:
            if self.merge_layers is None:
                raise SandboxError("this server was started without layer support")
            path = await asyncio.to_thread(self.merge_layers, shas)
            self._opt_dirs[shas] = path
        return path, self.sandbox.opt_root(path)

    async def spawn(self, env: Environment, plan: LaunchPlan, on_exit: ExitHook) -> None:
        """Start ``env``'s runtime on its own Runtime API channel; raises
        :class:`lamina.errors.SandboxError` when the sandbox cannot."""
        if self.network is not None:
            env.network = await self.network.take()
        net = env.network
        address = await env.channel.start(sock=net.take_runtime_socket() if net else None)
        if net is not None and self.network is not None:
            env.channel.telemetry.socket_factory = functools.partial(self.network.socket_in, net)
        await self.attach_xray(env, net)
        spec = cold_start_spec(
            env.cfg,
            plan,
            self.host(namespaced=net is not None),
            env_id=sandbox_id(env.cfg.name, env.slot.env_id),
            log_stream=env.log_stream,
            runtime_api=address,
            initialization_type=env.slot.init_type,
        )
        if net is not None:
            spec = dataclasses.replace(spec, netns_fd=net.fd)
        read_fd, write_fd = os.pipe()
        # The extensions' output has a pipe of its own, read here, outside the environment:
        # what an extension wrote before the freeze is logged (and sent to Telemetry API
        # subscribers) while the environment is frozen, as on Lambda.
        ext_read, ext_write = os.pipe() if plan.extensions else (None, None)
        try:
            env.process = await self.sandbox.spawn(spec, write_fd, extensions_fd=ext_write)
        except BaseException:
            os.close(read_fd)
            if ext_read is not None:
                os.close(ext_read)
            raise
        finally:
            os.close(write_fd)
            if ext_write is not None:
                os.close(ext_write)
        watch(env, env.process, read_fd, on_exit, ext_read)

    async def zygote_spec(
        self, cfg: FunctionConfig, log_stream: str
    ) -> SandboxSpec | FunctionError:
        """The spec of ``cfg``'s zygote (the same cold start, as SnapStart makes it)."""
        plan = await self.plan(cfg)
        if isinstance(plan, FunctionError):
            return plan
        try:
            return cold_start_spec(
                cfg,
                plan,
                self.host(namespaced=self.network is not None),
                env_id=sandbox_id(cfg.name, "z" + secrets.token_hex(2)),
                log_stream=log_stream,
                zygote=True,
            )
        except InvalidRuntime as exc:
            return error_bodies.invalid_runtime(exc.message)


def watch(
    env: Environment,
    process: EnvironmentProcess,
    read_fd: int,
    on_exit: ExitHook,
    extensions_fd: int | None = None,
) -> None:
    """Log ``process``'s output (from ``read_fd``; its extensions' from ``extensions_fd``)
    and call ``on_exit`` when it ends."""
    env.process = process
    env.attach_output(read_fd, extensions_fd)
    exited = asyncio.get_running_loop().create_task(process.wait())
    exited.add_done_callback(lambda fut: on_exit(env, fut))
    env.exited = exited


def _no_credentials(cfg: FunctionConfig) -> tuple[str, str, str]:
    return ("", "", "")
