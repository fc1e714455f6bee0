"""The ``lamina-jail`` helper: compile it once per source version, and build its argv.

The jail is C rather than Python because it runs on every cold start: a C helper costs
well under a millisecond, a Python one 10-20 ms of interpreter start.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lamina.errors import SandboxError

TASK_ROOT = "/var/task"
RUNTIME_ROOT = "/var/runtime"
OPT_ROOT = "/opt"  # layers (a read-only bind like the task root)
SHM_MB = 64


def jail_source() -> bytes:
    return resources.files("lamina.sandbox").joinpath("jail.c").read_bytes()


def ensure_jail_binary(bin_dir: Path, compiler: str | None = None) -> Path:
    """Path of the compiled jail, compiling ``jail.c`` into ``bin_dir`` if not cached yet."""
    source = jail_source()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = bin_dir / f"lamina-jail-{digest}"
    if os.access(target, os.X_OK):
        return target
    cc = compiler or next(
        (found for name in ("cc", "gcc", "clang") if (found := shutil.which(name))), None
    )
    if cc is None:
        raise SandboxError(
            "the process sandbox needs a C compiler (cc, gcc or clang) to build lamina-jail; "
            "install one (e.g. the build-essential package) or set isolation=none"
        )
    bin_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=bin_dir) as tmp:
        src = Path(tmp) / "jail.c"
        src.write_bytes(source)
        out = Path(tmp) / "lamina-jail"
        # Static where the C library allows it: no dynamic loader on the one exec a cold
        # start does (~0.2 ms, a quarter of the jail's exec); dynamic otherwise.
        for flags in (["-static"], []):
            done = subprocess.run(
                [cc, "-O2", "-Wall", *flags, "-o", str(out), str(src)],
                capture_output=True,
                text=True,
            )
            if done.returncode == 0:
                break
        if done.returncode != 0:
            raise SandboxError(f"compiling lamina-jail with {cc} failed:\n{done.stderr.strip()}")
        out.chmod(0o755)
        # Atomic: a concurrent server either sees no binary or a complete one.
        os.replace(out, target)
    return target


@dataclass(frozen=True, slots=True)
class JailPlan:
    """Everything the jail needs besides the runtime's argv and environment."""

    join_files: tuple[Path, ...]
    hidden: tuple[Path, ...]
    binds: tuple[tuple[Path, str], ...]  # (host source, target inside)
    tmp_mb: int
    nofile: int
    uid: int
    gid: int
    workdir: str
    hostname: str = "lamina"
    keep_fds: int = 3  # the runtime keeps descriptors 0..keep_fds-1 (a zygote keeps fd 3)
    netns_fd: int | None = None  # the jail's descriptor of the network namespace to join
    parent_pid: int | None = None  # die with this process (the server)
    seccomp: str = "full"  # "zygote": setns allowed (its forks join namespaces made for them)
    # A new root built from ``binds`` and ``links`` only (nothing else of the host), or
    # None for the host's tree with ``hidden`` covered.
    links: tuple[tuple[str, str], ...] | None = None
    tmp_fd: int | None = None  # the jail's descriptor of a detached /tmp volume (else a tmpfs)
    trace_fd: int | None = None  # the jail's descriptor for its step timestamps (-Z)
    # The jail's descriptor of a root template's mount namespace (-r): the tree is joined,
    # not built, and ``binds`` are only the function's own (see sandbox/templates.py).
    template_fd: int | None = None
    # The host's cgroup mounts as (dir, type, options) (-C), read once by the server.
    cgroup_mounts: tuple[tuple[str, str, str], ...] = ()
    # A zygote's jail: its init makes forked environments' namespaces on requests read
    # from this descriptor of the jail's (-z; see ``sandbox/zygote.py``).
    maker_fd: int | None = None


def jail_argv(jail: Path, plan: JailPlan, runtime_argv: list[str]) -> list[str]:
    """The jail's command line (see the usage comment at the top of ``jail.c``)."""
    argv = [str(jail)]
    for procs in plan.join_files:
        argv += ["-c", str(procs)]
    for path in plan.hidden:
        argv += ["-H", str(path)]
    for src, dst in plan.binds:
        argv += ["-B", str(src), dst]
    if plan.tmp_fd is not None:
        argv += ["-m", str(plan.tmp_fd)]
    for where, kind, options in plan.cgroup_mounts:
        argv += ["-C", where, kind, options]
    if plan.template_fd is not None:
        argv += ["-r", str(plan.template_fd)]
    elif plan.links is not None:
        argv += ["-R", "1"]
        for target, link in plan.links:
            argv += ["-L", target, link]
    argv += [
        "-T", str(plan.tmp_mb),
        "-S", str(SHM_MB),
        "-N", str(plan.nofile),
        "-U", str(plan.uid),
        "-G", str(plan.gid),
        "-n", plan.hostname,
        "-d", plan.workdir,
    ]  # fmt: skip
    if plan.keep_fds > 3:
        argv += ["-k", str(plan.keep_fds)]
    if plan.netns_fd is not None:
        argv += ["-e", str(plan.netns_fd)]
    if plan.parent_pid is not None:
        argv += ["-p", str(plan.parent_pid)]
    if plan.seccomp != "full":
        argv += ["-s", plan.seccomp]
    if plan.trace_fd is not None:
        argv += ["-Z", str(plan.trace_fd)]
    if plan.maker_fd is not None:
        argv += ["-z", str(plan.maker_fd)]
    return [*argv, "--", *runtime_argv]


def hidden_paths(candidates: list[Path]) -> tuple[Path, ...]:
    """Existing directories to cover, minus those already under another one (pure on input)."""
    resolved = sorted({p.resolve() for p in candidates if p.is_dir()}, key=lambda p: len(p.parts))
    out: list[Path] = []
    for path in resolved:
        if not any(path.is_relative_to(kept) for kept in out):
            out.append(path)
    return tuple(out)


def expose_binds(
    expose: tuple[Path, ...], hidden: tuple[Path, ...]
) -> tuple[tuple[Path, str], ...]:
    """Bind back, at their own path, the exposed host paths that a hidden path would cover."""
    out: list[tuple[Path, str]] = []
    for path in expose:
        real = path.resolve()
        if any(real.is_relative_to(h) for h in hidden):
            out.append((real, str(real)))
    return tuple(out)


def watchdog_argv(
    jail: Path,
    roots: list[Path],
    volumes: Path | None = None,
    nft_table: tuple[str, str] | None = None,
) -> list[str]:
    """The watchdog's command line: it kills what is left under ``roots`` at EOF on stdin
    (and removes the /tmp volumes under ``volumes``, and the ``(nft path, table)``)."""
    argv = [str(jail)]
    for root in roots:
        argv += ["-W", str(root)]
    if volumes is not None:
        argv += ["-V", str(volumes)]
    if nft_table is not None:
        argv += ["-x", nft_table[0], "-X", nft_table[1]]
    return argv


def seccomp_program(jail: Path) -> bytes:
    """The full seccomp program as raw ``struct sock_filter`` records (``lamina-jail -D``),
    for environments forked from a zygote to install on themselves."""
    done = subprocess.run([str(jail), "-D", "full"], capture_output=True, check=False)
    if done.returncode != 0 or not done.stdout or len(done.stdout) % 8:
        raise SandboxError(f"lamina-jail -D full failed: {done.stderr.decode(errors='replace')}")
    return done.stdout
